#!/usr/bin/env python3
"""Drives a running `loco serve` with the real clients (pip `openai`, `ollama`) and prints one JSON
object of what came back, for the Swift tests to compare with `loco run`.

    serve-clients.py URL replies   --model M --prompt P --max-tokens N   # every client form, greedy
    serve-clients.py URL listing                                           # models, show, ps, version
    serve-clients.py URL embed     --model M --text T                      # ollama.embed, openai embeddings
    serve-clients.py URL concurrent --jobs FILE --max-tokens N             # all jobs at once, streaming
    serve-clients.py URL disconnect --model M --prompt P                   # read 2 chunks, hang up

Every reply is greedy (temperature 0, no penalties), so the texts are comparable exactly.
"""
import argparse
import json
import sys
import threading

import httpx
import ollama
import openai


def ollama_client(url, key):
    return ollama.Client(host=url, headers={"authorization": f"Bearer {key}"} if key else None)


def openai_client(url, key):
    return openai.OpenAI(base_url=url + "/v1", api_key=key or "none", max_retries=0)


def replies(url, key, model, prompt, max_tokens):
    ol, oa = ollama_client(url, key), openai_client(url, key)
    options = {"temperature": 0, "num_predict": max_tokens}
    messages = [{"role": "user", "content": prompt}]
    out = {}
    r = ol.chat(model=model, messages=messages, options=options, stream=False)
    out["ollama_chat"] = r.message.content
    out["ollama_chat_counts"] = [r.prompt_eval_count, r.eval_count, r.done_reason]
    out["ollama_chat_stream"] = "".join(c.message.content for c in ol.chat(model=model, messages=messages, options=options, stream=True))
    r = ol.generate(model=model, prompt=prompt, options=options, stream=False)
    out["ollama_generate"] = r.response
    # The client's models drop fields Ollama does not have; the adapter field is read raw.
    out["ollama_generate_adapter"] = httpx.post(url + "/api/generate", json={"model": model, "prompt": prompt, "stream": False,
                                                                           "options": options},
                                                headers={"authorization": f"Bearer {key}"} if key else {}, timeout=120).json()["adapter"]
    out["ollama_generate_stream"] = "".join(c.response for c in ol.generate(model=model, prompt=prompt, options=options, stream=True))
    c = oa.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens)
    out["openai_chat"] = c.choices[0].message.content
    out["openai_usage"] = [c.usage.prompt_tokens, c.usage.completion_tokens, c.choices[0].finish_reason]
    out["openai_adapter"] = (c.model_extra or {}).get("adapter")
    text, usage = "", None
    for chunk in oa.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens, stream=True,
                                            stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens]
    out["openai_chat_stream"] = text
    out["openai_stream_usage"] = usage
    raw = httpx.post(url + "/v1/chat/completions", json={"model": model, "messages": messages, "temperature": 0, "max_tokens": max_tokens},
                     headers={"authorization": f"Bearer {key}"} if key else {}, timeout=120)
    out["adapter_header"] = raw.headers.get("x-loco-adapter")
    return out


def listing(url, key):
    ol, oa = ollama_client(url, key), openai_client(url, key)
    tags = [m.model for m in ol.list().models]
    models = [m.id for m in oa.models.list().data]
    show = ol.show(tags[0])
    ps = [m.name for m in ol.ps().models]
    version = httpx.get(url + "/api/version").json()["version"]
    return {"tags": tags, "models": models, "show_family": show.details.family, "show_quantization": show.details.quantization_level,
            "ps": ps, "version": version}


def embed(url, key, model, text):
    ol, oa = ollama_client(url, key), openai_client(url, key)
    a = ol.embed(model=model, input=text).embeddings[0]
    b = oa.embeddings.create(model=model, input=text).data[0].embedding  # the client asks for base64 and decodes it
    c = oa.embeddings.create(model=model, input=[text, text], encoding_format="float").data
    return {"ollama": list(a), "openai_base64": list(b), "openai_float": [list(e.embedding) for e in c]}


def concurrent(url, key, jobs, max_tokens):
    oa = openai_client(url, key)
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i, job):
        start.wait()
        text = ""
        for chunk in oa.chat.completions.create(model=job["model"], messages=[{"role": "user", "content": job["prompt"]}],
                                                temperature=0, max_tokens=max_tokens, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        results[i] = text

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone = []
    for job in jobs:
        c = oa.chat.completions.create(model=job["model"], messages=[{"role": "user", "content": job["prompt"]}],
                                       temperature=0, max_tokens=max_tokens)
        alone.append(c.choices[0].message.content)
    return {"together": results, "alone": alone}


def disconnect(url, key, model, prompt):
    oa = openai_client(url, key)
    stream = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], temperature=0,
                                        max_tokens=2000, stream=True)
    seen = 0
    for chunk in stream:
        seen += 1
        if seen >= 3:
            break
    stream.close()
    return {"chunks": seen}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("what", choices=["replies", "listing", "embed", "concurrent", "disconnect"])
    parser.add_argument("--model")
    parser.add_argument("--prompt")
    parser.add_argument("--text")
    parser.add_argument("--jobs")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--api-key")
    a = parser.parse_args()
    if a.what == "replies":
        out = replies(a.url, a.api_key, a.model, a.prompt, a.max_tokens)
    elif a.what == "listing":
        out = listing(a.url, a.api_key)
    elif a.what == "embed":
        out = embed(a.url, a.api_key, a.model, a.text)
    elif a.what == "concurrent":
        with open(a.jobs) as f:
            out = concurrent(a.url, a.api_key, json.load(f), a.max_tokens)
    else:
        out = disconnect(a.url, a.api_key, a.model, a.prompt)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
