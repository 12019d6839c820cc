// The LocoLLM umbrella: one import for the whole SDK.
@_exported import GGUFFormat
@_exported import Quantization
