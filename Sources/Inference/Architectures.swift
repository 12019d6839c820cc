/// The registry of architectures, as llama.cpp's table of them: each entry is one file of this
/// folder (its `general.architecture` name, RoPE, block layout and own configuration keys); the
/// shared parts (attention variants, norms, RoPE styles, activations) are `DecoderLayer`'s
/// options. Adding an architecture is its file, its tests and one line here
/// (`Documentation/Architecture.md`, "Adding an architecture").
var architectureRegistry: [any ArchitectureDefinition.Type] {
    [
        Llama.self,
        Qwen3.self,
        Qwen2.self,
        Gemma3.self,
        Bitnet.self,
    ]
}
