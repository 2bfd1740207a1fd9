import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The native build on its own (no kernel, no root): its flow table keeps the kernel map's
/// contract, it builds through the cache under its own key, it says what to do about a helper it
/// lacks, and a collector reads it like any flow table. The comparison with the kernel engine is
/// in NativeReplayTests; the unprivileged command line is checked against it here.
@Suite struct NativeEngineTests {
    static func monitor(_ features: String = "", maxFlows: Int, cache: String? = nil) throws -> NativeMonitor {
        let resources = try ResourceLocator.locate()
        let plan = try FeatureCatalog(resources: resources).plan(features: features, maxFlows: maxFlows)
        return try NativeMonitor(plan: plan, resources: resources, compiler: ClangCompiler(cacheDirectory: cache))
    }

    /// The errno of a failed native table update, 0 when it succeeded.
    static func errno(of update: () throws -> Void) -> Int32 {
        do {
            try update()
            return 0
        } catch let KernelError.mapOperationFailed(_, _, code) {
            return code
        } catch {
            return -1
        }
    }

    @Test(arguments: [16, 1000]) func theNativeTableKeepsTheKernelMapsContract(capacity: Int) throws {
        // random inserts (any / only new / only existing), lookups, removals and batch deletes
        // against a dictionary, over more keys than the table holds: full-table refusals and
        // long probe chains with deletions in them
        let monitor = try Self.monitor(maxFlows: capacity)
        let table = monitor.flowTable()
        #expect(table.capacity == capacity && table.keySize == 40 && table.valueSize == monitor.plan.layout.size)
        var g = SplitMix64(seed: UInt64(capacity))
        let candidates: [[UInt8]] = (0..<(capacity * 5 / 2)).map { i in
            key4("198.18.\(i / 250).\(i % 250)", "198.19.0.1", UInt16(truncatingIfNeeded: g.next()), 53, 17).bytes
        }
        var model: [[UInt8]: [UInt8]] = [:]
        func value() -> [UInt8] { (0..<table.valueSize).map { _ in UInt8(truncatingIfNeeded: g.next()) } }
        for step in 0..<(capacity * 60) {
            let key = candidates[Int(g.next() % UInt64(candidates.count))]
            switch g.next() % 6 {
            case 0, 1, 2:
                let flags = g.next() % 3, v = value()
                let expected: Int32
                if model[key] != nil {
                    expected = flags == 1 ? EEXIST : 0
                } else {
                    expected = flags == 2 ? ENOENT : (model.count >= capacity ? E2BIG : 0)
                }
                #expect(Self.errno { try table.update(key, v, flags: flags) } == expected, "step \(step)")
                if expected == 0 { model[key] = v }
            case 3:
                #expect(try table.lookup(key) == model[key], "step \(step)")
            case 4:
                #expect(try table.lookupAndDelete(key) == model.removeValue(forKey: key), "step \(step)")
            default:
                let keys = (0..<5).map { _ in candidates[Int(g.next() % UInt64(candidates.count))] }
                try table.deleteBatch(keys: keys.flatMap { $0 })
                for k in keys { model[k] = nil }
            }
            #expect(table.count == model.count, "step \(step)")
            if step % 97 == 0 {
                let snapshot = table.snapshot()
                let seen = Dictionary(uniqueKeysWithValues: (0..<snapshot.count).map { (Array(snapshot.key(at: $0)), Array(snapshot.value(at: $0))) })
                #expect(seen == model, "step \(step)")
            }
        }
        let drained = table.drain()
        #expect(drained.count == model.count && table.count == 0)
    }

    @Test func aCollectorReadsTheNativeTableAsAFlowTableSource() throws {
        let monitor = try Self.monitor("tcp", maxFlows: 64)
        let frames = [Packet.ethernet().ipv4().tcp(sport: 40000, dport: 80, flags: [.syn]),
                      Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").tcp(sport: 80, dport: 40000, flags: [.syn, .ack]),
                      Packet.ethernet().ipv4().tcp(sport: 40000, dport: 80, flags: [.ack], payload: [1, 2, 3]),
                      Packet.ethernet().ipv6().udp(sport: 5, dport: 6, payload: [9])]
        for (i, frame) in frames.enumerated() {
            let bytes = frame.bytes()
            bytes.withUnsafeBytes { _ = monitor.run(frame: $0, tstamp: T0 + UInt64(i) * msec) }
        }
        let out = CollectedFlows()
        let collector = FlowCollector(plan: monitor.plan, source: TableFlowSource(table: monitor.flowTable()), exporter: out, policy: ExpiryPolicy())
        #expect(try collector.flushAll(reason: .endOfCapture) == 2)
        let decoder = RecordDecoder(plan: monitor.plan)
        let tcp = try #require(out.flows.first { $0.forward.key.proto == 6 })
        #expect(tcp.forward.key.sport == 40000 && decoder.value("packets", in: tcp.forward) == 2 && decoder.value("bytes", in: tcp.forward) == 83)
        #expect(tcp.reverse.map { decoder.value("tcp_flags", in: $0) } == 0x12)
        #expect(decoder.value("first_seen", in: tcp.forward) == T0)
        #expect(monitor.flowTable().count == 0)
        #expect(try monitor.counters().values.reduce(0, +) == 0)
    }

    /// The two-thread runner of a replay on a machine with several CPUs, released at once (as after
    /// a short or refused capture): its thread may start only after the release began, and must then
    /// neither crash (an unowned reference to the runner did) nor hang; frames handed over still run.
    @Test func aPipelinedRunnerReleasedBeforeItsThreadStartsEndsCleanly() throws {
        let monitor = try Self.monitor("", maxFlows: 64)
        for _ in 0..<2000 { _ = PipelinedNativeRunner(library: monitor.library) }
        let frame = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 1, dport: 2, payload: [1]).bytes()
        for i in 0..<200 {
            let runner = PipelinedNativeRunner(library: monitor.library)
            _ = frame.withUnsafeBytes { runner.run($0, length: frame.count, tstamp: UInt64(i + 1) * 1_000_000_000) }
            runner.finish()
        }
        let table = monitor.flowTable()
        #expect(table.count == 1)
    }

    @Test func twoLoadedCopiesOfOneBuildKeepTheirOwnTables() throws {
        let a = try Self.monitor(maxFlows: 64), b = try Self.monitor(maxFlows: 64)
        #expect(a.object.objectPath == b.object.objectPath)
        let frame = Packet.ethernet().ipv4().udp(sport: 1, dport: 2).bytes()
        frame.withUnsafeBytes { _ = a.run(frame: $0, tstamp: 1) }
        #expect(a.flowTable().count == 1 && b.flowTable().count == 0)
    }

    @Test func theNativeBuildIsCachedUnderAKeyOfItsOwn() throws {
        let cache = NSTemporaryDirectory() + "fgnativecache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let resources = try ResourceLocator.locate()
        let plan = try FeatureCatalog(resources: resources).plan(features: "tcp", maxFlows: 128)
        let compiler = ClangCompiler(cacheDirectory: cache)
        let source = try CodeGenerator(resources: resources).generate(plan)
        let bpf = try compiler.compile(source, version: FlowgenVersion.string)
        let cold = try Self.monitor("tcp", maxFlows: 128, cache: cache)
        let warm = try Self.monitor("tcp", maxFlows: 128, cache: cache)
        #expect(!cold.object.cacheHit && warm.object.cacheHit)
        #expect(cold.object.cacheKey != bpf.cacheKey && cold.object.objectPath.hasSuffix("/native.so"))
        // the BPF object's key is what it was before native builds existed: the same recipe
        let toolchain = try compiler.toolchainFingerprint(clang: compiler.clangPath())
        #expect(bpf.cacheKey == ClangCompiler.cacheKey(source: source, version: FlowgenVersion.string, toolchain: toolchain,
                                                       multiarchInclude: ClangCompiler.multiarchIncludeDirectory()))
        // the generated C is shared, native.c, native.h and the helper shim are added
        let files = try FileManager.default.contentsOfDirectory(atPath: cold.object.sourceDirectory)
        for name in ["flowgen.bpf.c", "flowgen_plan.h", "flowgen.h", "parse.h", "native.c", "native.h", "bpf", "native.so"] {
            #expect(files.contains(name), "\(name) missing from \(files)")
        }
        // no private copy is left behind
        #expect(files.filter { $0.hasPrefix("native.so.") }.isEmpty, "\(files)")
    }

    @Test func aHelperWithoutAHostVersionIsACompileErrorThatSaysWhatToDo() throws {
        let root = NSTemporaryDirectory() + "fgnativehelper-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/cookie", withIntermediateDirectories: true)
        try "name: cookie\nfields:\n  - name: socket_cookie\n    type: u64\n    aggregation: last\n    export: false\nupdate: update.bpf.c\n"
            .write(toFile: root + "/cookie/feature.yaml", atomically: true, encoding: .utf8)
        try "FG_SET(socket_cookie, bpf_get_socket_cookie(skb));\n".write(toFile: root + "/cookie/update.bpf.c", atomically: true, encoding: .utf8)
        let resources = try ResourceLocator.locate()
        let plan = try FeatureCatalog(resources: resources, userPaths: [root], allowUnsafe: true).plan(features: "cookie", maxFlows: 64)
        do {
            _ = try NativeMonitor(plan: plan, resources: resources, compiler: ClangCompiler())
            Issue.record("a helper with no host version compiled natively")
        } catch let error as NativeError {
            let text = error.description
            #expect(text.contains("bpf_get_socket_cookie") && text.contains("update.bpf.c:1"), "\(text)")
            #expect(text.contains("Templates/native.h") && text.contains("--engine kernel"), "\(text)")
        }
    }

    @Test func replayWithTheNativeEngineNeedsNoPrivilegesAndMatchesTheKernel() throws {
        try requireRoot()
        // nobody may not be able to enter the clone: both engines run the same copy outside it
        let copy = try UnprivilegedCopy()
        defer { copy.remove() }
        let flowgen = copy.flowgen
        let work = NSTemporaryDirectory() + "fgnobody-\(UUID().uuidString)"
        // sticky like /tmp: nobody may create its cache here, and nobody else can replace it
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o1777])
        chmod(work, 0o1777)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let capture = work + "/crafted.pcap"
        let writer = try PcapWriter(path: capture, linkType: .ethernet, nanosecond: true, bigEndian: false)
        for (t, frame) in craftedEngineCapture() { try writer.append(frame, timestampNs: t) }
        try writer.close()
        chmod(capture, 0o644)
        let common = ["replay", "-q", "--features", "seed", "--idle-timeout", "10", "--active-timeout", "20"]
        let nobody = try ProcessRunner.run(copy.asNobody(common + ["--engine", "native", "--cache-dir", work + "/cache", capture]))
        #expect(nobody.status == 0, "\(nobody.stderr)")
        let kernel = try ProcessRunner.run([flowgen] + common + ["--engine", "kernel", capture])
        #expect(kernel.status == 0, "\(kernel.stderr)")
        #expect(nobody.stdout.split(separator: "\n").count > 30)
        #expect(nobody.stdout == kernel.stdout)
        // and the kernel engine without privileges says what to do
        let refused = try ProcessRunner.run(copy.asNobody(common + ["--engine", "kernel", capture]))
        #expect(refused.status != 0 && refused.stderr.contains("needs root") && refused.stderr.contains("--engine native"), "\(refused.stderr)")
    }
}
