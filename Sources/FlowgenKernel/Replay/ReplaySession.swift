import Logging
import Foundation
import FlowgenCore

/// The state the replay workers share: the collector and the statistics being gathered.
/// Only barrier actions touch it, and the barrier runs one action at a time while every other
/// worker waits under its lock, which is what makes the unchecked `Sendable` sound.
final class ReplaySession: @unchecked Sendable {
    let files: [String]
    let collector: FlowCollector
    let source: ReplayFlowSource
    let log: Logger
    /// Run every pass (tests compare the skipping schedule with it).
    let plainPasses: Bool
    var statistics = ReplayStatistics()
    /// After a pass: no flow already in the table can end before this capture time, and no flow
    /// started later can end before it either, unless a FIN or RST arrives (the workers watch those).
    /// Passes before it would export nothing, so the workers skip them. Written by barrier actions only.
    private(set) var quietUntil: UInt64 = 0

    init(files: [String], collector: FlowCollector, source: ReplayFlowSource, plainPasses: Bool = false,
         log: Logger) {
        self.files = files
        self.collector = collector
        self.source = source
        self.plainPasses = plainPasses
        self.log = log
    }

    /// Delay after a FIN or RST before its flow could end.
    var endQuietNs: UInt64 { collector.policy.endQuietNs }

    /// A collector pass at capture time `now`, over the flows that could end then.
    func poll(now: UInt64) throws {
        let started = MonotonicClock.nowNs()
        source.mode = .candidates(now: now)
        defer { source.mode = .all }
        let r = try collector.poll(now: now)
        try source.commitRemovals()
        statistics.passes += 1
        let policy = collector.policy
        let newFlows = FlowDeadline.add(now, min(policy.idleTimeoutNs, policy.activeTimeoutNs))
        quietUntil = plainPasses ? 0 : min(source.nextDeadline(), newFlows)
        let ms = Double(MonotonicClock.nowNs() - started) / 1e6
        let line = "pass at capture time \(now) ns: \(source.lastRead.entries) directions, \(source.lastRead.presented) could end, "
            + "\(r.exported) flows exported, " + String(format: "%.1f ms", ms)
        log.debug("\(line)")
    }

    /// Records a file every worker has finished.
    func finishFile(_ index: Int, _ all: [ReplayCheckpoint]) {
        let first = all[0]
        let packets = all.reduce(0) { $0 + $1.ownedPackets }
        let file = ReplayStatistics.File(path: files[index], format: first.format, linkTypes: first.linkTypes,
                                         packets: packets, error: first.error?.description)
        statistics.files.append(file)
        log.debug("\(files[index]): \(packets) packets\(file.error.map { ", stopped: \($0)" } ?? "")")
    }
}
