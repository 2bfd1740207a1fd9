// swift-tools-version:6.0
import PackageDescription

// flowgen: declarative feature modules -> generated TC program -> biflow export.
// FlowgenCore is pure Swift (no libbpf, no sockets, no threads): features, plan, codegen, records,
// flows, formatting, the exporter protocol, capture parsing; of file I/O it keeps reading modules,
// configuration and test vectors, and writing a new module's scaffold and the vectors' captures (PcapWriter).
// FlowgenKernel owns every other fd: BPF objects, the launcher, capture files (CaptureFile), the text,
// IPFIX and ClickHouse exporters and their transports, the output files (OutputFile), the metrics
// server. The executable only parses options.
// Tooling stays out of those two: FlowgenTestSupport (network namespaces, veth pairs, the capture
// writers and the IPFIX decoder the tests check against) serves both test targets and the benchmark;
// FlowgenBench is `flowgen bench`. The product libraries import neither.
let package = Package(
    name: "flowgen",
    products: [
        .executable(name: "flowgen", targets: ["flowgen"]),
        .library(name: "FlowgenCore", targets: ["FlowgenCore"]),
        .library(name: "FlowgenKernel", targets: ["FlowgenKernel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev"])]
        ),
        .target(
            name: "FlowgenCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "FlowgenKernel",
            dependencies: ["CLibBPF", "FlowgenCore", .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(
            name: "FlowgenTestSupport",
            dependencies: ["FlowgenCore", "FlowgenKernel", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "FlowgenBench",
            dependencies: ["CLibBPF", "FlowgenCore", "FlowgenKernel", "FlowgenTestSupport"]
        ),
        .executableTarget(
            name: "flowgen",
            dependencies: [
                "FlowgenCore", "FlowgenKernel", "FlowgenBench",
                .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "FlowgenCoreTests", dependencies: ["FlowgenCore", "FlowgenKernel", "FlowgenTestSupport"]),
        .testTarget(name: "FlowgenKernelTests", dependencies: ["FlowgenKernel", "FlowgenCore", "FlowgenTestSupport", "FlowgenBench"]),
    ]
)
