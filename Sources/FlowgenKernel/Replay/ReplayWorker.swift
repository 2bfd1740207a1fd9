import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// One replay thread. Every worker reads every capture itself (reading is cheap next to a test run)
/// and runs only the packets whose flow hashes to it, so each flow's packets reach the kernel in
/// capture order from one thread, with no queue between threads. All workers meet at each collector
/// pass and at the end of each file, where the reader's state must agree.
final class ReplayWorker: @unchecked Sendable {
    let index: Int
    let workers: Int
    /// Called for every packet, by this worker's thread only: without the run-time exclusivity check.
    @exclusivity(unchecked) private var runner: any FrameRunner
    private let frame: UnsafeMutableRawPointer
    /// Counters per file (index = file).
    private(set) var perFile: [ReplayCounters] = []
    /// Whether the program tracks inner flows of tunnels (`tunnel`): flows are then hashed, and
    /// their FIN/RST seen, by the inner packet, as the program keys them.
    let tunnels: Bool

    init(index: Int, workers: Int, runner: any FrameRunner, tunnels: Bool = false) {
        self.index = index
        self.workers = workers
        self.tunnels = tunnels
        self.runner = runner
        frame = UnsafeMutableRawPointer.allocate(byteCount: FrameTestRun.maxFrameLength, alignment: 16)
        frame.initializeMemory(as: UInt8.self, repeating: 0, count: FrameTestRun.maxFrameLength)
    }

    deinit { frame.deallocate() }

    /// Counters over every file.
    var total: ReplayCounters { perFile.reduce(ReplayCounters(), +) }

    /// Replays the session's files in order, meeting the other workers at `barrier` for each
    /// collector pass and at the end of each file. Returns early when the barrier aborts.
    func run(session: ReplaySession, interval: UInt64, barrier: ReplayBarrier) {
        var schedule = PollSchedule(interval: interval)
        // earliest FIN/RST (any worker's packet: all workers see all packets) since the last pass
        var finOrResetSince = UInt64.max
        let endQuiet = session.endQuietNs
        for (fileIndex, path) in session.files.enumerated() {
            var counters = ReplayCounters()
            var failure: CaptureError?
            var reader: CaptureReader?
            do {
                reader = try CaptureReader(path: path)
            } catch let error as CaptureError {
                failure = error
            } catch {
                failure = .unreadable(path: path, reason: "\(error)")
            }
            if let reader {
                while true {
                    let next: CapturePacket?
                    do {
                        next = try reader.next()
                    } catch let error as CaptureError {
                        failure = error
                        break
                    } catch {
                        failure = .unreadable(path: path, reason: "\(error)")
                        break
                    }
                    guard let packet = next else { break }
                    let t = packet.timestampNs
                    // a pass is due at a boundary unless nothing could end yet (it would export nothing)
                    if schedule.due(t) && t >= min(session.quietUntil, FlowDeadline.add(finOrResetSince, endQuiet)) {
                        runner.finish() // the pass reads the table: every packet before this one has run
                        let here = ReplayCheckpoint(file: fileIndex, packet: packet.index, kind: .poll(now: t))
                        guard barrier.arrive(here, action: { all in
                            try Self.checkAgreement(all)
                            try session.poll(now: t)
                        }) else { return }
                        finOrResetSince = .max
                    }
                    do {
                        if try process(packet, counters: &counters) & 0x05 != 0 { finOrResetSince = min(finOrResetSince, t) }
                    } catch {
                        barrier.abort(error)
                        return
                    }
                }
                reader.close()
            }
            runner.finish()
            perFile.append(counters)
            var end = ReplayCheckpoint(file: fileIndex, packet: reader?.packetCount ?? 0, kind: .endOfFile,
                                       ownedPackets: Int(counters.owned), error: failure)
            end.format = reader.map { "\($0.format)" }
            end.linkTypes = reader?.linkTypes.map(\.rawValue) ?? []
            guard barrier.arrive(end, action: { all in
                try Self.checkAgreement(all)
                session.finishFile(fileIndex, all)
            }) else { return }
        }
    }

    static func checkAgreement(_ all: [ReplayCheckpoint]) throws {
        guard let first = all.first else { return }
        for other in all.dropFirst() where !first.agrees(with: other) {
            throw ReplayError.inconsistentRead(file: first.file, packet: first.packet, otherPacket: other.packet)
        }
    }

    /// Runs `packet` if this worker owns its flow; returns the packet's TCP flags (0 when not TCP),
    /// whoever owns it.
    @inline(__always)
    private func process(_ packet: CapturePacket, counters: inout ReplayCounters) throws -> UInt8 {
        let bytes = packet.bytes
        let framing = EthernetFraming.classify(bytes, linkType: packet.linkType)
        let summary: CaptureFlowHash.Summary
        switch framing {
        case .ethernet:
            summary = CaptureFlowHash.summary(ethernetFrame: bytes, tunnels: tunnels)
        case let .prepend(etherType, payloadOffset):
            summary = CaptureFlowHash.summary(etherType: etherType, network: UnsafeRawBufferPointer(rebasing: bytes[payloadOffset...]),
                                              tunnels: tunnels)
        case .notIP, .truncated:
            summary = CaptureFlowHash.Summary(hash: 0, tcpFlags: 0)
        }
        guard owner(of: summary.hash) == index else { return summary.tcpFlags }
        counters.owned += 1

        let input: UnsafeRawBufferPointer
        var frameLength = bytes.count // of the Ethernet frame, before any cut
        switch framing {
        case .notIP:
            counters.notIP += 1
            return 0
        case .truncated:
            counters.truncated += 1
            return 0
        case .ethernet:
            let etherType = bytes.count >= 14 ? UInt16(bytes[12]) << 8 | UInt16(bytes[13]) : 0
            if FrameTestRun.tooShort(length: bytes.count, etherType: etherType) {
                counters.truncated += 1
                return summary.tcpFlags
            }
            if bytes.count > FrameTestRun.maxFrameLength {
                counters.clipped += 1
                input = UnsafeRawBufferPointer(rebasing: bytes[..<FrameTestRun.maxFrameLength])
            } else {
                input = bytes
            }
        case let .prepend(etherType, payloadOffset):
            let payload = bytes.count - payloadOffset
            let length = EthernetFraming.headerLength + payload
            if FrameTestRun.tooShort(length: length, etherType: etherType) {
                counters.truncated += 1
                return summary.tcpFlags
            }
            frameLength = length
            let kept = min(payload, FrameTestRun.maxFrameLength - EthernetFraming.headerLength)
            if kept < payload { counters.clipped += 1 }
            frame.storeBytes(of: etherType.bigEndian, toByteOffset: 12, as: UInt16.self)
            if kept > 0 {
                (frame + EthernetFraming.headerLength).copyMemory(from: bytes.baseAddress! + payloadOffset, byteCount: kept)
            }
            input = UnsafeRawBufferPointer(start: frame, count: EthernetFraming.headerLength + kept)
        }
        let rc = runner.run(input, length: frameLength, tstamp: packet.timestampNs)
        if rc == 0 {
            counters.run += 1
        } else if rc == EINVAL || rc == ENOMEM || rc == E2BIG || rc == ENOSPC {
            counters.refused += 1
        } else {
            throw KernelError.testRunFailed(code: rc, hint: rc == EPERM || rc == EACCES ? "test runs need root (CAP_BPF and CAP_NET_ADMIN)" : "")
        }
        return summary.tcpFlags
    }

    /// The worker that owns a flow hash (multiply-shift: uniform for any worker count).
    @inline(__always)
    private func owner(of hash: UInt64) -> Int {
        Int(hash.multipliedFullWidth(by: UInt64(workers)).high)
    }
}
