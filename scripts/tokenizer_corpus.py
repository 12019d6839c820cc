#!/usr/bin/env python3
"""A seeded corpus of diverse strings for tokenizer parity tests: prose with contractions, code,
emoji (ZWJ sequences, flags, skin tones), CJK, accents (composed and combining), other scripts,
whitespace runs (tabs, CRLF, no-break and ideographic spaces), digits in many scripts, special
tokens whole and broken, and random code points.

    python3 scripts/tokenizer_corpus.py [--seed 1] [--count 3000]

prints one JSON string per line. The same seed gives the same corpus. Random code points are
drawn from those assigned in this Python's Unicode database (14.0 for Python 3.11), which both
llama.cpp's and Swift's newer tables classify the same way.
"""
import argparse
import json
import random
import sys
import unicodedata

WORDS = ("the of and to in is you that it he was for on are as with his they I at be this have from or one had "
         "by word but not what all were we when your can said there use an each which she do how their if will "
         "up other about out many then them these so some her would make like him into time has look two more "
         "write go see number no way could people my than first water been call who oil its now find long down "
         "day did get come made may part Tokenizer BPE Qwen Llama SmolLM Hello World").split()
CONTRACTIONS = ["don't", "I'm", "you're", "we've", "they'll", "she'd", "it's", "DON'T", "I'LL", "We'Re", "O'Neil",
                "rock'n'roll", "'s", "'t", "'ll", "''", "it’s", "l'été"]
CODE = [
    "def f(x):\n    return x ** 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "let ids = tokenizer.encode(\"Hi\", addSpecial: false)\n",
    "if __name__ == '__main__':\n    main()\n",
    "const f = async (a, b) => { await g(a?.b ?? 0); };",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"row\"><span>&nbsp;&lt;tag&gt;</span></div>",
    "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }",
    "x=1;y=2;z=x+y*3-4/5%6&7|8^9<<1>>2",
    "    \n        pass\n\n\n    # comment\t\t\n",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "$ ls -la | grep '^d' && echo \"done\" > /dev/null 2>&1",
    "```swift\nstruct A: Sendable {}\n```",
]
EMOJI = ["😀", "🦙", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇫🇷", "1️⃣", "❤️", "🤷‍♀️", "😶‍🌫️", "✅", "🚀", "🧑🏿‍💻", "☕", "©", "™"]
CJK = ["我想在apple工作", "你好，世界！", "東京タワーに行きました。", "ひらがなとカタカナ", "한국어 텍스트입니다", "漢字かな交じり文",
       "中文标点：“引号”《书名》", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ", "ｱｲｳｴｵ"]
ACCENTS = ["café", "naïve", "Ångström", "über", "e\u0301", "a\u0308o\u0308u\u0308", "Tiếng Việt có dấu", "Zażółć gęślą jaźń",
           "Ça va?", "straße", "ﬁ ﬂ", "Å", "A\u030a", "ǅ", "ᾈ"]
SCRIPTS = ["Привет, мир", "нещо на Български", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
           "កាន់តែពិសេសអាចខលចេញ", "გამარჯობა", "Բարեւ", "ሰላም", "ᚠᛇᚻ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐐀𐐁"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u2028", "\u0085", "\v", "\f",
          "\t\t\n", "    ", " \t ", "\r", "\u200b", "\ufeff"]
DIGITS = ["0", "42", "3.14159", "-273.15", "1,234,567", "2024-11-26", "123456789012345", "0x1F", "1e-9", "²³", "½¾",
          "Ⅻ", "٣٤٥", "１２３", "①②", "007", "99.9%", "$19.99", "v1.2.3"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<reponame>", "<file_sep>", "<|im_sta", "|im_end|>",
           "<|im_start|", "<<|im_end|>>", "<|im_start|><|im_end|>", "<|im_start|>user\n", "< |im_end| >", "<|IM_END|>"]
PUNCT = ["!", "?", ".", ",", "...", "…", "—", "–", "-", "!!!!", "?!", ";", ":", "(", ")", "[", "]", "{", "}", "\"", "'",
         "«", "»", "„", "“", "”", "‘", "’", "¿", "¡", "@", "#", "%", "&", "*", "+", "=", "<", ">", "/", "\\", "|", "~", "^", "`"]


def assigned_code_points():
    ranges = []
    for cp in list(range(0x20, 0x3400)) + list(range(0xA000, 0xD800)) + list(range(0xE000, 0xE100)) + \
            list(range(0xF900, 0x10000)) + list(range(0x10000, 0x1FB00)):
        if 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
            continue
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs"):
            ranges.append(cp)
    return ranges


def piece(rng, assigned):
    kind = rng.randrange(12)
    if kind == 0:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
    if kind == 1:
        return rng.choice(CONTRACTIONS)
    if kind == 2:
        return rng.choice(CODE)
    if kind == 3:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4)))
    if kind == 4:
        return rng.choice(CJK)
    if kind == 5:
        return rng.choice(ACCENTS)
    if kind == 6:
        return rng.choice(SCRIPTS)
    if kind == 7:
        return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 5)))
    if kind == 8:
        return rng.choice(DIGITS)
    if kind == 9:
        return rng.choice(SPECIAL)
    if kind == 10:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3)))
    return "".join(chr(rng.choice(assigned)) for _ in range(rng.randint(1, 8)))


def corpus(seed=1, count=3000):
    rng = random.Random(seed)
    assigned = assigned_code_points()
    out = ["", " ", "a", "\n", "Hello, world!", "a" * 300, "9" * 100, "!" * 50, " " * 40 + "x", "\t" * 20]
    while len(out) < count:
        parts = [piece(rng, assigned) for _ in range(rng.randint(1, 6))]
        joiners = ["", " ", "\n", ""]
        out.append("".join(p + rng.choice(joiners) for p in parts))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    for text in corpus(args.seed, args.count):
        sys.stdout.write(json.dumps(text) + "\n")


if __name__ == "__main__":
    main()
