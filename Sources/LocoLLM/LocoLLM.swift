// The LocoLLM umbrella: one import for the whole SDK.
@_exported import GGUFFormat
@_exported import Quantization
@_exported import Tokenization
@_exported import Tensor
@_exported import Inference
@_exported import LocoSupport
@_exported import Adapters
@_exported import Training
@_exported import Router
@_exported import Evaluation
