import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Section 2: packets per second on a veth pair between two namespaces made for the run, with no
/// program, the minimal floor and each flowgen preset on the receiving end's tc ingress hook.
///
/// The sender (`afpacket_sender.c`) pushes prebuilt UDP frames from namespace A; veth hands each one
/// to B, whose receive path (tc ingress included) runs in the sender's own softirq on the same pinned
/// CPU, so the rate is the inverse of the whole per-packet cost. Frames carry a destination MAC that
/// is not B's: after tc ingress the IP layer drops them as "other host" at once, so nothing is
/// answered, nothing goes back across the pair, and the program's share of the path is as large as a
/// receive path makes it (a lower bound on the fraction kept in real use). Rates come from B's
/// interface counters over a window that starts after a warm-up.
public final class EndToEndBenchmark {
    let context: BenchContext
    static let prefix = "fgbench"
    static let senderMAC: PacketBuilder.MACAddress = "02:f1:0e:00:00:01"
    static let receiverMAC: PacketBuilder.MACAddress = "02:f1:0e:00:00:02"
    /// Not the receiver's MAC, so frames are dropped right after tc (see the type's comment).
    static let otherHostMAC: PacketBuilder.MACAddress = "02:f1:0e:00:00:99"
    static let warmUpSeconds = 0.3

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// Sets up the namespaces, runs the matrix and removes everything it created, even on failure.
    public func run() throws -> EndToEndResult {
        let options = context.options
        context.log("e2e: compiling the AF_PACKET sender")
        let sender = try AFPacketSender(compiler: options.compiler, templates: options.benchTemplates)

        // Programs first: compiling and verifying is not what is timed, and a failure leaves nothing behind.
        var configurations: [(String, BenchProgram?, BenchPreset?)] = [("no program", nil, nil)]
        // return-only shows what the tc hook costs before any program work; minimal is the floor of the targets
        configurations.append(("return-only", try context.floors.returnOnly(), nil))
        configurations.append(("minimal", try context.floors.minimal(maxFlows: Planner.defaultMaxFlows), nil))
        var unavailable: [String: String] = [:]
        for set in context.presetSets {
            guard set.selection != nil else {
                unavailable[set.label] = "not available"
                continue
            }
            context.log("e2e: building \(set.label)")
            do {
                configurations.append((set.label, try context.loadMonitor(set), set.preset))
            } catch {
                unavailable[set.label] = "failed to build: \(error)"
            }
        }

        try NetworkNamespace.cleanupStale(prefix: Self.prefix)
        let tx = try NetworkNamespace(prefix: Self.prefix)
        defer { try? tx.destroy() }
        let rx = try NetworkNamespace(prefix: Self.prefix)
        defer { try? rx.destroy() }
        let pair = try VethPair(.init(tx, ipv4: "198.18.0.1/24", ipv6: "fd00:f10e:b::1/64", mac: Self.senderMAC.description),
                                .init(rx, ipv4: "198.18.0.2/24", ipv6: "fd00:f10e:b::2/64", mac: Self.receiverMAC.description))
        defer { pair.destroy() }

        let workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("flowgen-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let flowCounts = [1, options.e2eManyFlows]
        var frameFiles: [Int: String] = [:]
        var frameBytes = 0
        for n in flowCounts {
            let frames = (0..<n).map(Self.frame)
            frameBytes = frames[0].count
            let path = workDirectory + "/frames-\(n).bin"
            try AFPacketSender.writeFrames(frames, to: path)
            frameFiles[n] = path
        }

        let cpu = Swift.max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
        var rates: [String: [Double]] = [:]
        var keeps: [String: [Double]] = [:]
        var seen: [String: Int] = [:]
        func key(_ name: String, _ n: Int) -> String { "\(name)|\(n)" }
        // Each program window sits between two no-program windows, and its keep fraction is taken
        // against their mean: the machine's speed drifts (other tenants, frequency), and a baseline
        // measured seconds away would put that drift into the fraction.
        for round in 0..<options.e2eRepetitions {
            for n in flowCounts {
                func window(_ name: String, _ program: BenchProgram?) throws -> Double {
                    context.log("e2e: round \(round + 1)/\(options.e2eRepetitions), \(n) flow(s), \(name)")
                    let rate = try measure(program, sender: sender, tx: tx, rx: rx, pair: pair, frames: frameFiles[n]!, cpu: cpu)
                    rates[key(name, n), default: []].append(rate)
                    if let program, program.flowTable != nil { seen[key(name, n)] = try program.flowCount() }
                    return rate
                }
                var before = try window("no program", nil)
                for (name, program, _) in configurations.dropFirst() {
                    let rate = try window(name, program)
                    let after = try window("no program", nil)
                    keeps[key(name, n), default: []].append(rate / Swift.max((before + after) / 2, 1))
                    before = after
                }
            }
        }

        var runs: [EndToEndResult.Run] = []
        for (name, program, preset) in configurations {
            for n in flowCounts {
                let target = n == 1 ? preset?.keepOneFlowTarget : preset?.keepManyFlowsTarget
                runs.append(.init(program: name, flows: n, packetsPerSecond: BenchSamples(rates[key(name, n)] ?? []),
                                  keep: program == nil ? nil : BenchSamples(keeps[key(name, n)] ?? []),
                                  flowsInTable: seen[key(name, n)], keepTarget: target))
            }
        }
        let method = EndToEndResult.Method(
            seconds: options.e2eSeconds, rounds: options.e2eRepetitions, frameBytes: frameBytes, senderCPU: cpu,
            traffic: "IPv4 UDP, 198.18.0.0/15 sources, ports 10000+, to a MAC that is not the receiver's (dropped after tc ingress)")
        return EndToEndResult(method: method, runs: runs, unavailable: unavailable)
    }

    /// Frame `i` of the traffic: flow `i` differs in its source port (and address beyond 50,000 flows).
    static func frame(_ i: Int) -> [UInt8] {
        let source = PacketBuilder.IPv4Address([198, 18, UInt8(1 + i / 50_000), 1])
        return Packet.ethernet(src: senderMAC, dst: otherHostMAC)
            .ipv4(src: source, dst: "198.18.0.2")
            .udp(sport: UInt16(10_000 + i % 50_000), dport: 9, payload: [UInt8](repeating: 0, count: 18))
            .bytes()
    }

    /// One timed window: attach (if any), start the sender, read B's counters after the warm-up and
    /// after the window, wait for the sender, detach. Returns received packets per second.
    func measure(_ program: BenchProgram?, sender: AFPacketSender, tx: NetworkNamespace, rx: NetworkNamespace,
                 pair: VethPair, frames: String, cpu: Int) throws -> Double {
        let seconds = context.options.e2eSeconds
        try program?.clearFlows()
        let attachment = try program.map { program in
            try rx.run { try TCAttachment(interface: pair.nameB, direction: .ingress, programFD: program.fd) }
        }
        defer { try? attachment?.detach() }
        let process = try sender.start(in: tx, interface: pair.nameA, frames: frames,
                                       seconds: Self.warmUpSeconds + seconds + 0.3, cpu: cpu)
        Thread.sleep(forTimeInterval: Self.warmUpSeconds)
        let before = try InterfaceCounters.read(pair.nameB, in: rx)
        Thread.sleep(forTimeInterval: seconds)
        let after = try InterfaceCounters.read(pair.nameB, in: rx)
        guard let status = process.wait(timeout: .seconds(Int(seconds) + 10)) else {
            process.terminate()
            throw BenchError.senderFailed("did not stop after its \(seconds) s")
        }
        guard status == 0, AFPacketSender.reportedFrames(process.output()) != nil else {
            throw BenchError.senderFailed("exit status \(status): \(process.output())")
        }
        try attachment?.detach()
        return after.rxRate(since: before)
    }
}
