import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// Fails (never skips) when the tests cannot load BPF programs.
func requireRoot(sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(geteuid() == 0, "needs root (CAP_BPF, CAP_NET_ADMIN): run the tests as root", sourceLocation: sourceLocation)
}

/// A generated monitor loaded in replay mode (time = skb->tstamp) and driven with
/// BPF_PROG_TEST_RUN over crafted packets; records are read back from the real kernel map.
final class ProgramHarness: @unchecked Sendable {
    let monitor: LoadedMonitor
    let runner: ProgramTestRun
    let decoder: RecordDecoder

    init(features: String, maxFlows: Int = 1024, featurePaths: [String] = [], live: Bool = false,
         stages: StagePolicy = StagePolicy(), cacheDirectory: String? = nil) throws {
        try requireRoot()
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: featurePaths, allowUnsafe: true)
        let plan = try catalog.plan(features: features, maxFlows: maxFlows)
        let builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(cacheDirectory: cacheDirectory), stages: stages)
        monitor = try builder.load(replay: !live)
        runner = ProgramTestRun(programFD: monitor.entryFD)
        decoder = RecordDecoder(plan: monitor.plan)
    }

    /// Runs one packet at capture time `t` (ns); returns the program's return value.
    @discardableResult
    func send(_ packet: PacketBuilder, at t: UInt64 = 1_000, gsoSegments: UInt32 = 0, repeat n: UInt32 = 1) throws -> Int32 {
        var context = ProgramTestRun.Context(tstamp: t)
        context.gsoSegments = gsoSegments
        return try runner.run(packet.bytes(), repetitions: n, context: context).signedReturnValue
    }

    /// Every direction in the kernel map, by key.
    func records() throws -> [FlowKey: FlowRecord] {
        let snapshot = try monitor.flowTable().snapshot()
        var out: [FlowKey: FlowRecord] = [:]
        for i in 0..<snapshot.count {
            let k = Array(snapshot.key(at: i)), v = Array(snapshot.value(at: i))
            let key = k.withUnsafeBytes { FlowKey(bytes: $0) }
            out[key] = v.withUnsafeBytes { decoder.decode(key: key, value: $0) }
        }
        return out
    }

    /// One field of one direction.
    func value(_ field: String, _ key: FlowKey, element: Int = 0) throws -> UInt64? {
        guard let record = try records()[key], let c = decoder.firstColumn[field] else { return nil }
        return record.values[c + element]
    }

    /// Kernel failure counters.
    func counters() throws -> [KernelCounter: UInt64] { try monitor.counters() }
}

func key4(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16, _ proto: UInt8) -> FlowKey {
    func a(_ s: String) -> IPAddress16 { IPAddress16(ipv4: s.split(separator: ".").map { UInt8($0)! }) }
    return FlowKey(src: a(src), dst: a(dst), sport: sport, dport: dport, proto: proto, ipVersion: 4)
}

func key6(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16, _ proto: UInt8) -> FlowKey {
    func a(_ s: String) -> IPAddress16 {
        var addr = in6_addr()
        precondition(inet_pton(AF_INET6, s, &addr) == 1)
        return IPAddress16(withUnsafeBytes(of: &addr) { Array($0) })
    }
    return FlowKey(src: a(src), dst: a(dst), sport: sport, dport: dport, proto: proto, ipVersion: 6)
}
