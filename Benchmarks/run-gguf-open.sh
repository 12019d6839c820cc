#!/usr/bin/env bash
# Times opening and indexing a GGUF with LocoLLM's GGUFFormat and with gguf-py's GGUFReader in one
# run, and prints both and their ratio. Compare ratios, not absolute times: those drift with the
# machine's load and page cache, while both readers see the same conditions within one run.
#
#   Benchmarks/run-gguf-open.sh [FILE] [--iterations N] [--peer-iterations N] [--json]
#
# FILE defaults to the default model in the model store. --iterations (default 50) is for ours;
# --peer-iterations (default 10) for gguf-py, whose every open takes seconds: ten of them give a
# steady median without making the run minutes long.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

file=""
iterations=50
peer_iterations=10
json=0
while [ $# -gt 0 ]; do
    case "$1" in
        --json) json=1 ;;
        --iterations) iterations="${2:?--iterations needs a number}"; shift ;;
        --peer-iterations) peer_iterations="${2:?--peer-iterations needs a number}"; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) file="$1" ;;
    esac
    shift
done

if [ -z "$file" ]; then
    file="${LOCO_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
    if [ ! -f "$file" ]; then
        echo "no default model at $file: run scripts/fetch-model.sh first, or pass a FILE" >&2
        exit 1
    fi
fi
python3 -c 'import gguf' 2>/dev/null || { echo "gguf-py is missing: pip install gguf" >&2; exit 1; }

# Release build, into Benchmarks/.build; its log goes to stderr so --json output stays clean.
swift build -c release --package-path "$here" >&2
bin="$(swift build -c release --package-path "$here" --show-bin-path)"

# Back to back in one invocation: same file, same page cache, minutes apart at most.
ours="$("$bin/gguf-open-benchmark" "$file" --iterations "$iterations" --json)"
peer="$(python3 "$here/gguf_open_peer.py" "$file" --iterations "$peer_iterations")"

python3 - "$ours" "$peer" "$json" <<'PY'
import json, sys
ours, peer, as_json = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "1"
# Both readers must have seen the same metadata values and tensor bytes, or the times mean nothing.
for key in ("tensors", "metadata_sum", "data_sum"):
    if ours[key] != peer[key]:
        sys.exit(f"readers disagree on {key}: ours {ours[key]}, gguf-py {peer[key]}")
ratio = peer["median_ms"] / ours["median_ms"]  # how many times faster ours is
if as_json:
    print(json.dumps({"benchmark": "gguf-open", "file": ours["file"], "file_bytes": ours["file_bytes"],
                      "ours": ours, "gguf_py": peer, "ratio": round(ratio, 1)}, indent=2))
else:
    print(f"{ours['file']} ({ours['file_bytes'] / 1e6:.1f} MB, {ours['tensors']} tensors)")
    print(f"{'reader':<20} {'iterations':>10} {'median ms':>11} {'min ms':>10}")
    for r in (ours, peer):
        print(f"{r['reader']:<20} {r['iterations']:>10} {r['median_ms']:>11.3f} {r['min_ms']:>10.3f}")
    print(f"ratio (gguf-py / ours, medians): {ratio:.0f}x")
PY
