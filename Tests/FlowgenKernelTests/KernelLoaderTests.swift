import Foundation
import Testing
import FlowgenCore
@testable import FlowgenKernel

@Suite("Kernel loader and test runs")
struct KernelLoaderTests {
    @Test func loadsAndReportsProgramsMapsAndBTF() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram(mapSizes: ["fg_flows": 2048])
        defer { pipeline.close() }

        #expect(pipeline.entryFD >= 0)
        let entry = try #require(pipeline.programs.first { $0.name == "fg_entry" })
        #expect(entry.fd == pipeline.entryFD)
        #expect(entry.section == "tc")
        #expect(entry.id > 0)
        #expect(entry.verifiedInstructions > 0)
        #expect(entry.translatedBytes > 0)

        let flows = try pipeline.mapInfo("fg_flows")
        #expect(flows.type == 1 && flows.typeName == "hash")
        #expect(flows.keySize == 16 && flows.valueSize == 40)
        #expect(flows.maxEntries == 2048, "mapSizes must override the C declaration")
        let counters = try pipeline.mapInfo("fg_counters")
        #expect(counters.typeName == "percpu_array" && counters.maxEntries == 4)
        #expect(try pipeline.mapFD("fg_flows") == flows.fd)
        #expect(throws: KernelError.self) { try pipeline.mapFD("no_such_map") }

        let value = try pipeline.btfStruct(named: "fgk_value")
        #expect(value.size == 40)
        #expect(value.members.map(\.name) == ["packets", "bytes", "last_seen", "first_len", "tos", "hist"])
        #expect(value.members.map(\.byteOffset) == [0, 8, 16, 24, 26, 28])
        #expect(value.members.map(\.byteSize) == [8, 8, 8, 2, 2, 12])
        #expect(value.member("hist")?.typeName == "__u32[3]")
        let key = try pipeline.btfStruct(named: "fgk_key")
        #expect(key.size == 16)
        #expect(key.member("proto")?.byteOffset == 12)
        #expect(throws: KernelError.self) { try pipeline.btfStruct(named: "fgk_nothing") }
    }

    @Test func testRunCountsTheCraftedPacket() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let runner = ProgramTestRun(programFD: pipeline.entryFD)
        let packet = KernelFixture.udpPacket()
        #expect(packet.count == 60)

        let once = try runner.run(packet)
        #expect(once.returnValue == 0xFFFF_FFFF, "TC_ACT_UNSPEC")
        #expect(once.signedReturnValue == -1)
        let repeated = try runner.run(packet, repetitions: 4, captureOutput: true)
        #expect(repeated.output == packet, "a passive monitor leaves the packet alone")

        let table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        let snapshot = try table.snapshot()
        #expect(snapshot.count == 1)
        #expect(Array(snapshot.key(at: 0)) == KernelFixture.udpKey())
        let value = snapshot.value(at: 0)
        #expect(KernelFixture.u64(value, at: 0) == 5, "1 + 4 repetitions")
        #expect(KernelFixture.u64(value, at: 8) == 5 * 46, "IP bytes")
        #expect(try table.count() == 1)

        let counters = try PerCPUCounters(pipeline: pipeline, map: "fg_counters")
        #expect(counters.possibleCPUs >= 1)
        let sums = try counters.read()
        #expect(sums == [0, 0, 0, 5])
        #expect(try counters.kernelCounters()[.notIP] == 0)
        try counters.reset()
        #expect(try counters.read() == [0, 0, 0, 0])

        // A non-IP frame takes the other branch.
        var arp = packet
        arp[12] = 0x08
        arp[13] = 0x06
        _ = try runner.run(arp)
        #expect(try counters.read() == [1, 0, 0, 1])
        #expect(try counters.kernelCounters()[.notIP] == 1)
    }

    @Test func contextSetsTimestampForReplay() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let runner = ProgramTestRun(programFD: pipeline.entryFD)
        let stamp: UInt64 = 1_700_000_000_123_456_789
        var context = ProgramTestRun.Context(tstamp: stamp, ifindex: 1)
        context.mark = 7
        context.wireLength = 60
        let outcome = try runner.run(KernelFixture.udpPacket(), context: context)
        #expect(outcome.returnValue == 0xFFFF_FFFF)
        #expect(outcome.context?.mark == 7)
        let value = try #require(try FlowTable(pipeline: pipeline, map: "fg_flows").lookup(KernelFixture.udpKey()))
        #expect(KernelFixture.u64(value, at: 16) == stamp, "the program must read the replayed skb->tstamp")

        // Fields the kernel does not accept are reported with a hint, not silently dropped.
        var bad = ProgramTestRun.Context()
        bad.wireLength = 10
        do {
            _ = try runner.run(KernelFixture.udpPacket(), context: bad)
            Issue.record("wire_len below the packet length was accepted")
        } catch let error as KernelError {
            #expect(error.description.contains("EINVAL"), "\(error)")
        }
    }

    @Test func rodataConstantsAreSetBeforeLoad() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram(rodata: ["fg_bytes_multiplier": 3])
        defer { pipeline.close() }
        _ = try ProgramTestRun(programFD: pipeline.entryFD).run(KernelFixture.udpPacket())
        let value = try #require(try FlowTable(pipeline: pipeline, map: "fg_flows").lookup(KernelFixture.udpKey()))
        #expect(KernelFixture.u64(value, at: 8) == 3 * 46)
        #expect(throws: KernelError.self) { try KernelFixture.loadCounterProgram(rodata: ["fg_no_such_knob": 1]) }
    }

    @Test func concurrentTestRunsAreIndependent() async throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let runner = ProgramTestRun(programFD: pipeline.entryFD)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for port in 0..<8 {
                group.addTask {
                    let packet = KernelFixture.udpPacket(sourcePort: UInt16(1000 + port))
                    for _ in 0..<50 { _ = try runner.run(packet) }
                }
            }
            try await group.waitForAll()
        }
        let snapshot = try FlowTable(pipeline: pipeline, map: "fg_flows").snapshot()
        #expect(snapshot.count == 8)
        for entry in snapshot {
            #expect(KernelFixture.u64(entry.value, at: 0) == 50)
        }
    }

    @Test func verifierRejectionCarriesTheReason() throws {
        try KernelFixture.requireRoot()
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let unchecked = """
        #include <linux/bpf.h>
        #include <linux/ip.h>
        #include <bpf/bpf_helpers.h>

        SEC("tc")
        int fg_entry(struct __sk_buff *skb)
        {
            void *data = (void *)(long)skb->data;
            struct iphdr *ip = data + 14;   /* no check against data_end */
            return ip->protocol == 17 ? 1 : 0;
        }
        char LICENSE[] SEC("license") = "GPL";
        """
        let object = try ClangCompiler(cacheDirectory: cache).compile(
            GeneratedSource(mainFile: "bad.bpf.c", files: ["bad.bpf.c": unchecked], entryProgram: "fg_entry"), version: "test")
        do {
            let pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: "fg_entry")
            pipeline.close()
            Issue.record("the verifier accepted an unchecked packet read")
        } catch KernelError.verifierRejected(let program, let log, _, _) {
            #expect(program == "fg_entry")
            #expect(log.contains("invalid access to packet") || log.contains("outside of the packet"), "\(log)")
            let message = KernelError.verifierRejected(program: program, log: log).description
            #expect(message.hasPrefix("the kernel verifier rejected program 'fg_entry': "))
            #expect(KernelError.verifierSummary(log).contains("packet"), "\(KernelError.verifierSummary(log))")
        }
    }

    @Test func missingEntryProgramAndBadObjectAreClearErrors() throws {
        try KernelFixture.requireRoot()
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let object = try ClangCompiler(cacheDirectory: cache).compile(KernelFixture.counterSource(), version: "test")
        #expect(throws: KernelError.self) { try LoadedObject(objectPath: object.objectPath, entryProgram: "fg_other") }
        #expect(throws: KernelError.self) { try LoadedObject(objectPath: cache + "/nothing.o", entryProgram: "fg_entry") }
        #expect(throws: KernelError.self) {
            try LoadedObject(objectPath: object.objectPath, entryProgram: "fg_entry", mapSizes: ["fg_nope": 1])
        }
    }

    @Test func errnoNamesAreSpelledOut() {
        #expect(KernelError.errnoDescription(-1) == "EPERM (Operation not permitted)")
        #expect(KernelError.errnoDescription(2) == "ENOENT (No such file or directory)")
        #expect(KernelError.errnoDescription(524).hasPrefix("ENOTSUPP ("))
        #expect(KernelError.systemCall(operation: "x", code: 13).description == "x failed: EACCES (Permission denied)")
    }
}
