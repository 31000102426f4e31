import CloudBusBench

// Benchmarks and the simulated host agent: a development tool, never deployed (the production binary is
// `cloudbus-worker`, which links neither the benchmark nor the test fakes).
await BenchCommandLine.main()
