// Kernel-facing module: compiler driver, loader, tc attachment, map drainer.
