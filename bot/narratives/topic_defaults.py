"""Built-in topic definitions, used when feeds.yaml has no `topics:` section.

The shipped feeds.yaml repeats them so operators can see and edit them."""

DEFAULT_TOPICS: dict[str, dict] = {
    "chips": {
        "description": "AI chips and semiconductors: GPUs and accelerators, fabs and foundries, "
        "HBM memory, lithography, chip companies and their results.",
        "keywords": [
            "semiconductor",
            "chip",
            "chips",
            "chipmaker",
            "GPU",
            "HBM",
            "foundry",
            "fab",
            "lithography",
            "Nvidia",
            "TSMC",
            "ASML",
            "SMIC",
            "Huawei Ascend",
            "H20",
            "Blackwell",
        ],
        "examples": [
            "Nvidia unveils its next-generation Blackwell AI accelerator",
            "SMIC ramps 7nm production despite equipment curbs",
            "SK Hynix sells out of HBM memory for next year",
        ],
    },
    "export_controls": {
        "description": "Trade policy on chips and chip tools in either direction: US export rules, "
        "licences, the entity list, smuggling cases, allied rules, and China's retaliation.",
        "keywords": [
            "export control",
            "export controls",
            "export ban",
            "entity list",
            "BIS",
            "licence",
            "license",
            "smuggling",
            "Commerce Department",
            "gallium",
            "germanium",
            "rare earth",
            "sanctions",
        ],
        "examples": [
            "US adds Chinese chip firms to the entity list",
            "Commerce Department requires licences for Nvidia H20 sales to China",
            "China restricts exports of gallium and germanium",
        ],
    },
    "token_economics": {
        "description": "The token economy: token prices and API price cuts, token volumes and "
        "usage share, and Chinese open models competing on price.",
        "keywords": [
            "token",
            "tokens",
            "per million tokens",
            "API price",
            "price cut",
            "OpenRouter",
            "DeepSeek",
            "Qwen",
            "Kimi",
            "MiniMax",
            "open-weight",
            "inference cost",
        ],
        "examples": [
            "DeepSeek cuts API prices by half",
            "Chinese models pass US models in OpenRouter token share",
            "Alibaba slashes Qwen prices in China's AI price war",
        ],
    },
}
