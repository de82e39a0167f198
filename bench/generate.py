"""Write a realistic chat fine-tuning dataset of a given size, deterministically.

Several scripts and languages (English, German, Russian, Greek, Arabic, Hindi, Chinese,
Japanese) and code, multi-turn conversations, system prompts reused across examples as in
real data, tool definitions, parallel tool calls with JSON arguments and tool answers.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ENGLISH = (
    "the a to and of in is you that it for on with as your this can be are have not we at or by from "
    "account password reset export notes sync offline device settings invoice refund plan upgrade team "
    "please thanks error message screen button click open close share folder file search tag archive "
    "delivery order shipping address weather city tomorrow forecast temperature booking flight hotel"
).split()
GERMAN = "und der die das ist nicht ich Sie bitte danke Konto Passwort Einstellungen Rechnung Lieferung Wetter morgen".split()
CHINESE = list("的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切")
JAPANESE = list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテト日本語設定確認")
RUSSIAN = "и в не на я что он с это как по но они к у мы вы за так же от все она то для пароль настройки счёт доставка погода завтра пожалуйста спасибо".split()
GREEK = "και το η να είναι δεν με για στο αυτό κωδικός ρυθμίσεις λογαριασμός παράδοση καιρός αύριο".split()
ARABIC = "في من على إلى هذا أن التي كلمة المرور الإعدادات الحساب الفاتورة التوصيل الطقس غدا شكرا من فضلك".split()
HINDI = "और का है में की को से यह पासवर्ड सेटिंग्स खाता बिल डिलीवरी मौसम कल कृपया धन्यवाद".split()
CODE = [
    "def total(items):\n    return sum(i.price * i.qty for i in items)\n",
    "SELECT id, email FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    "const res = await fetch(`/api/notes/${id}`, { method: 'DELETE' });",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
]


def sentence(rng: random.Random) -> str:
    language = rng.random()
    if language < 0.45:
        words = rng.choices(ENGLISH, k=rng.randint(6, 24))
        return " ".join(words).capitalize() + rng.choice(".?!")
    if language < 0.55:
        return " ".join(rng.choices(GERMAN, k=rng.randint(5, 16))) + "."
    if language < 0.63:
        return " ".join(rng.choices(RUSSIAN, k=rng.randint(5, 16))) + "."
    if language < 0.68:
        return " ".join(rng.choices(GREEK, k=rng.randint(5, 14))) + "."
    if language < 0.74:
        return " ".join(rng.choices(ARABIC, k=rng.randint(5, 14))) + "."
    if language < 0.79:
        return " ".join(rng.choices(HINDI, k=rng.randint(5, 14))) + "।"
    if language < 0.90:
        return "".join(rng.choices(CHINESE, k=rng.randint(8, 40))) + "。"
    if language < 0.95:
        return "".join(rng.choices(JAPANESE, k=rng.randint(8, 30))) + "。"
    return "```\n" + rng.choice(CODE) + "\n```"


def paragraph(rng: random.Random, low: int, high: int) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(low, high)))


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather and a short forecast for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by its number and return status, items and delivery date.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Full-text search over the user's notes.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]},
        },
    },
]


def example(rng: random.Random, systems: list[str], number: int) -> dict:
    messages: list[dict] = [{"role": "system", "content": rng.choice(systems)}]
    with_tools = rng.random() < 0.3
    for turn in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": paragraph(rng, 1, 4)})
        if with_tools and turn == 0:
            calls = []
            for index in range(rng.randint(1, 2)):
                tool = rng.choice(TOOLS)["function"]["name"]
                call_id = f"call_{number}_{index}"
                arguments = {"get_weather": {"city": rng.choice(["Paris", "東京", "Москва", "Cairo"])}, "lookup_order": {"order_id": f"A-{rng.randint(1000, 99999)}"}, "search_notes": {"query": sentence(rng)[:40], "limit": 5}}[tool]
                calls.append({"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(arguments, ensure_ascii=False)}})
            messages.append({"role": "assistant", "tool_calls": calls})
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"result": paragraph(rng, 1, 2)}, ensure_ascii=False)})
        messages.append({"role": "assistant", "content": paragraph(rng, 1, 6)})
    result: dict = {"messages": messages}
    if with_tools:
        result["tools"] = TOOLS
        result["parallel_tool_calls"] = True
    return result


def generate(path: Path, megabytes: float, seed: int = 7) -> Path:
    """Write about `megabytes` MB of examples to `path` (one JSON object per line)."""
    rng = random.Random(seed)
    systems = [paragraph(rng, 2, 8) for _ in range(40)]
    target = int(megabytes * 1_000_000)
    written = 0
    number = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            line = json.dumps(example(rng, systems, number), ensure_ascii=rng.random() < 0.3) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            number += 1
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--megabytes", type=float, default=200)
    args = parser.parse_args()
    generate(args.path, args.megabytes)
