"""Built-in topic definitions, used when feeds.yaml has no `topics:` section.

The shipped feeds.yaml repeats them so operators can see and edit them. Descriptions follow
the labelling guide of the evaluation set; keywords match whole words, a plural `s`/`es` and
trailing digits ("Qwen" matches "Qwen3", "chip" matches "chips"); short all-caps keywords
match case-sensitively. Examples are generic headlines, not copies of the labelled data.
"""

DEFAULT_TOPICS: dict[str, dict] = {
    "chips": {
        "description": "AI chips and semiconductors: GPUs and AI accelerators, chip design, "
        "fabs and foundries, HBM memory, lithography and chipmaking tools, chip companies, "
        "their products, results and market value.",
        "keywords": [
            "semiconductor",
            "chip",
            "chipmaker",
            "chipmaking",
            "microchip",
            "GPU",
            "HBM",
            "foundry",
            "fab",
            "wafer",
            "lithography",
            "AI accelerator",
            "Nvidia",
            "TSMC",
            "ASML",
            "SMIC",
            "SK Hynix",
            "Micron",
            "Cambricon",
            "Ascend",
            "H20",
            "H100",
            "Blackwell",
        ],
        "examples": [
            "Nvidia unveils its next-generation Blackwell AI accelerator",
            "SMIC ramps 7nm production despite equipment curbs",
            "SK Hynix sells out of HBM memory for next year",
            "Chinese chip designer launches a domestic rival to Nvidia's GPUs",
            "Chipmaker shares surge on record data-centre demand",
        ],
    },
    "export_controls": {
        "description": "Trade policy on chips, chip tools and chip materials in either "
        "direction: US export rules and licences, the entity list, smuggling enforcement, "
        "allied Dutch, Japanese or Malaysian rules, and China's retaliation such as purchase "
        "bans, antitrust probes of US chip firms and gallium, germanium or rare-earth controls.",
        "keywords": [
            "export control",
            "export curb",
            "export restriction",
            "export ban",
            "export licence",
            "export license",
            "entity list",
            "BIS",
            "Bureau of Industry and Security",
            "licence",
            "license",
            "smuggling",
            "Commerce Department",
            "Department of Commerce",
            "AI diffusion",
            "gallium",
            "germanium",
            "rare earth",
            "rare-earth",
            "sanctions",
        ],
        "examples": [
            "US adds Chinese chip firms to the entity list",
            "Commerce Department requires licences for Nvidia H20 sales to China",
            "China restricts exports of gallium and germanium",
            "Beijing tells tech firms to stop buying American AI chips",
            "Japan tightens rules on exports of chipmaking equipment",
        ],
    },
    "token_economics": {
        "description": "The token economy: token prices and API price cuts and price wars, "
        "how many tokens AI services process, usage share across model makers, and releases "
        "of Chinese open models competing on price (DeepSeek, Qwen, Kimi, MiniMax).",
        "keywords": [
            "token",
            "per million tokens",
            "API price",
            "price cut",
            "price war",
            "quadrillion",
            "OpenRouter",
            "DeepSeek",
            "Qwen",
            "Kimi",
            "MiniMax",
            "Moonshot AI",
            "Doubao",
            "Zhipu",
            "open-weight",
            "open-source model",
            "inference cost",
        ],
        "examples": [
            "DeepSeek cuts API prices by half",
            "Chinese models pass US models in OpenRouter token share",
            "Alibaba slashes Qwen prices in China's AI price war",
            "Chinese lab releases an open-weight model that rivals GPT at a fraction of the cost",
            "AI platforms now process trillions of tokens a month",
        ],
    },
}
