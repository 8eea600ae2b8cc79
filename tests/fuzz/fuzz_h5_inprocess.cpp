// Fuzz target h5-inprocess: fuzz_h5.cpp with the HDF5 walk run in this
// process (model::h5::read_h5_datasets_in_process), so that libFuzzer gets
// coverage of libhdf5 and of our walk. Its random runs find crashes inside
// Debian's libhdf5 1.10.8 (tests/fuzz/README.md "Limits"): for hand runs,
// `tests/fuzz/run-libfuzzer.sh 600 h5-inprocess`, not CI. Its replay test
// (fixed inputs) runs in every build: it is where sanitizers see our walk.
#define FUZZ_H5_IN_PROCESS 1
#include "fuzz_h5.cpp"
