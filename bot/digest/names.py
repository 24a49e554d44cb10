"""Human names for what the token tracker stores as codes and slugs.

Country codes (ISO 3166 alpha-2) become country names; OpenRouter author slugs and model slugs
become the names newsrooms print ("deepseek" → DeepSeek, "moonshotai/kimi-k2" → Kimi), which is
what we search the archive for when a share alert needs its related stories.
"""

from __future__ import annotations

import re

COUNTRY_NAMES: dict[str, str] = {
    "CN": "China",
    "US": "US",
    "FR": "France",
    "DE": "Germany",
    "GB": "UK",
    "IL": "Israel",
    "CA": "Canada",
    "KR": "South Korea",
    "JP": "Japan",
    "AE": "UAE",
    "SG": "Singapore",
    "IN": "India",
    "CH": "Switzerland",
    "UNKNOWN": "Unattributed",
}

# Makers whose slug is not the name the press uses. Values: names to display and search for,
# the display name first. Deliberately no bare "Google"/"Nvidia"/"Meta": in chip news those words
# mostly name the chip or ad business, not the model maker, and would bury the real matches.
MAKER_NAMES: dict[str, tuple[str, ...]] = {
    "deepseek": ("DeepSeek",),
    "qwen": ("Qwen", "Alibaba"),
    "alibaba": ("Alibaba", "Qwen"),
    "moonshotai": ("Moonshot", "Kimi"),
    "z-ai": ("Zhipu", "GLM", "Z.ai"),
    "thudm": ("Zhipu", "GLM"),
    "minimax": ("MiniMax",),
    "xiaomi": ("Xiaomi", "MiMo"),
    "tencent": ("Tencent", "Hunyuan"),
    "stepfun": ("StepFun",),
    "stepfun-ai": ("StepFun",),
    "baidu": ("Baidu", "ERNIE"),
    "bytedance": ("ByteDance", "Doubao"),
    "bytedance-seed": ("ByteDance", "Doubao"),
    "inclusionai": ("Ant Group", "Ling"),
    "kwaipilot": ("Kuaishou", "KwaiPilot"),
    "meituan": ("Meituan", "LongCat"),
    "openai": ("OpenAI", "ChatGPT", "GPT"),
    "anthropic": ("Anthropic", "Claude"),
    "google": ("Gemini", "DeepMind"),
    "meta-llama": ("Llama",),
    "meta": ("Llama",),
    "x-ai": ("xAI", "Grok"),
    "mistralai": ("Mistral",),
    "nvidia": ("Nemotron",),
    "microsoft": ("Microsoft", "Phi"),
    "amazon": ("Amazon Nova",),
    "cohere": ("Cohere",),
    "01-ai": ("01.AI", "Yi"),
}

# Model-family prefixes that are words too common to search for on their own.
_GENERIC_FAMILIES = {"chat", "model", "base", "instruct", "free", "mini", "pro", "large", "small"}
_FAMILY = re.compile(r"^[a-z]+")


def country_name(code: str | None) -> str:
    if not code:
        return COUNTRY_NAMES["UNKNOWN"]
    return COUNTRY_NAMES.get(code.upper(), code.upper())


def _slug_words(slug: str) -> str:
    """Fallback display name for an unknown slug: 'acme-labs' → 'Acme Labs'."""
    words = [w for w in re.split(r"[-_]+", slug) if w]
    return " ".join(w if any(c.isdigit() for c in w) else w.capitalize() for w in words)


def author_names(slug: str) -> tuple[str, ...]:
    """Names the press uses for an OpenRouter author slug, the display name first."""
    key = slug.strip().lower()
    if not key:
        return ()
    if key in MAKER_NAMES:
        return MAKER_NAMES[key]
    # Unknown maker: "acmeai" → "Acme"; keep the slug's own words otherwise.
    stem = key[:-2].rstrip("-") if key.endswith("ai") and len(key) > 5 else key
    return (_slug_words(stem),)


def model_names(model: str) -> tuple[str, ...]:
    """Names for a model slug 'author/model-name': the model family, then the maker's names.

    'qwen/qwen3-235b-a22b' → ('Qwen', 'Alibaba'); 'moonshotai/kimi-k2' → ('Kimi', 'Moonshot').
    """
    author, _, name = model.strip().lower().partition("/")
    if not name:
        author, name = "", author
    names: list[str] = []
    match = _FAMILY.match(name)
    family = match.group(0) if match else ""
    maker = author_names(author) if author else ()
    if len(family) >= 3 and family not in _GENERIC_FAMILIES:
        known = [n for n in maker if n.lower() == family]
        names.append(known[0] if known else _known_display(family))
    for n in maker:
        if n.lower() not in {x.lower() for x in names}:
            names.append(n)
    return tuple(names)


def _known_display(word: str) -> str:
    """Display form of a family word, reusing a maker table spelling when there is one."""
    for names in MAKER_NAMES.values():
        for n in names:
            if n.lower() == word:
                return n
    return word.upper() if len(word) <= 3 else word.capitalize()


def mover_names(mover: dict) -> tuple[str, ...]:
    """Names for one `movers` entry of a share_alert payload."""
    name = str(mover.get("name") or "")
    if mover.get("kind") == "model":
        return model_names(name)
    return author_names(name)
