// The ZBS module: MDS calls with try-next and ZBS primary-storage bus handlers (issue 4).
