// The LocoLLM umbrella: one import for the whole SDK.
@_exported import GGUFFormat
