# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= runs/demo
DEMO_STEPS ?= 2000

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench,tensorboard,text]'
	touch $@

install: $(VENV)/.installed

# DCGAN on the offline MNIST digits, on CPU, a short schedule (about 5 minutes of training on 2 cores).
demo: install
	JAX_PLATFORMS=cpu $(PY) launch.py --config=configs/dcgan.py --workdir=$(DEMO_DIR) \
	  --config.train.num_steps=$(DEMO_STEPS) --config.train.log_every_steps=100
	@echo "samples: $(DEMO_DIR)/samples/step_$(DEMO_STEPS).png   metrics: $(DEMO_DIR)/metrics.jsonl   curves: $(VENV)/bin/tensorboard --logdir $(DEMO_DIR)/tensorboard"

test: install
	JAX_PLATFORMS=cpu $(PY) -m pytest -q -n 2 --durations=15 tests

clean:
	rm -rf $(VENV) runs
