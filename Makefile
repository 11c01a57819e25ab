# yibao — the two commands of the README, and the benchmarks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CASES ?= 200000
BENCH_CASES ?= 1000000

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[spark,test]'
	touch $(STAMP)

## demo: a synthetic region → load → summary → budget year → staff qualification → claims review →
## institution assessment, fraud leads and fund monitoring of 2025 →
## the DIP year (catalogue from 2023–2024, settlement of 2025 with the review's deductions and every
## institution's statement) → the same year settled by DRG instead (a policy switch: demo-dip vs demo-drg)
STANDARDS ?= ../shared/standards/chs-drg-1.1
demo: $(STAMP)
	$(BIN)/yibao synth --out demo-region --seed 1 --cases $(DEMO_CASES) --schemes --faults
	$(BIN)/yibao load demo-region --workspace yibao-data
	$(BIN)/yibao summary --workspace yibao-data
	$(BIN)/yibao budget --policy demo-region/budget_policy.toml --workspace yibao-data --out demo-budget
	$(BIN)/yibao staff summary --year 2025 --workspace yibao-data
	$(BIN)/yibao review --workspace yibao-data --out demo-review --evaluate demo-region/labels.csv
	$(BIN)/yibao dip build --workspace yibao-data --policy examples/dip-demo.toml --out demo-dip/catalogue
	$(BIN)/yibao dip score --workspace yibao-data --policy examples/dip-demo.toml --catalogue demo-dip/catalogue --out demo-dip/scored
	$(BIN)/yibao dip settle --workspace yibao-data --policy examples/dip-demo.toml --scored demo-dip/scored \
		--budget-policy demo-region/budget_policy.toml --deductions demo-review/deductions.csv --out demo-dip/settlement
	$(BIN)/yibao assess --workspace yibao-data --year 2025 --out demo-assess
	$(BIN)/yibao leads --workspace yibao-data --year 2025 --out demo-leads --evaluate demo-region/scheme_labels.csv
	$(BIN)/yibao leads-import demo-leads --workspace yibao-data --year 2025
	$(BIN)/yibao fund monitor --workspace yibao-data --year 2025 --out demo-fund
	@if [ -d "$(STANDARDS)" ]; then \
		$(BIN)/yibao drg settle --workspace yibao-data --standards $(STANDARDS) \
			--budget-policy demo-region/budget_policy.toml --deductions demo-review/deductions.csv --out demo-drg; \
	else echo "DRG：找不到分组标准目录 $(STANDARDS)，跳过（make demo STANDARDS=…）"; fi

## test: the whole test suite (DuckDB and Spark parity included)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

## bench: generator and loader at 1 M cases; writes docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python bench/run.py --cases $(BENCH_CASES)

clean:
	rm -rf demo-region demo-budget demo-dip demo-drg demo-review demo-assess demo-leads demo-fund yibao-data bench/out
