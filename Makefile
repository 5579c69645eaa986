# The two set-up commands of the README:
#   make run    build tandem and start it on 127.0.0.1:8080 with the default model
#   make test   build everything and run every test (what CI runs)
BUILD_DIR ?= build
MODEL ?= models/stories260K.gguf
HOST ?= 127.0.0.1
PORT ?= 8080
ARGS ?=
# Same ccache settings as scripts/run-tests (precompiled headers need the sloppiness).
export CCACHE_DIR ?= $(HOME)/.cache/tandem-ccache
export CCACHE_SLOPPINESS ?= pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR ?= $(CURDIR)

.PHONY: deps configure build build-server run test clean

deps:
	bash scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) --parallel

# Only the executable: `make run` should not wait for every test to compile.
build-server: configure
	cmake --build $(BUILD_DIR) --parallel --target tandem

run: build-server
	$(BUILD_DIR)/tandem --host $(HOST) --port $(PORT) --model $(MODEL) $(ARGS)

test: deps
	bash scripts/run-tests

clean:
	rm -rf $(BUILD_DIR) build-fuzz
