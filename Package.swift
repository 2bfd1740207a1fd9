// swift-tools-version:6.0
import PackageDescription

// flowgen: declarative feature modules -> generated TC program -> biflow export.
// FlowgenCore is pure Swift (no libbpf), FlowgenKernel owns every fd, the executable only parses options.
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
    ],
    targets: [
        .systemLibrary(
            name: "CLibBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev"])]
        ),
        .target(
            name: "FlowgenCore",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "FlowgenKernel",
            dependencies: ["CLibBPF", "FlowgenCore"]
        ),
        .executableTarget(
            name: "flowgen",
            dependencies: [
                "FlowgenCore", "FlowgenKernel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "FlowgenCoreTests", dependencies: ["FlowgenCore"]),
        .testTarget(name: "FlowgenKernelTests", dependencies: ["FlowgenKernel", "FlowgenCore"]),
    ]
)
