import Foundation
import FlowgenCore
import FlowgenKernel
import ArgumentParser

/// The part `run` and `collect` share once an instance is held: serve metrics, run the collector
/// until a signal or the duration, close the exporter and print the summary.
enum Collecting {
    static func run(instance: MonitorInstance, exporter: FlowExporter, options: CollectorService.Options,
                    server: MetricsServer?, metrics: CollectorMetrics, messages: MessageLog) throws {
        let service = CollectorService(instance: instance, exporter: exporter, options: options, metrics: metrics,
                                       log: messages.logger)
        messages.info(instance.maps.kernelPass != nil
            ? "flows end in the kernel (pass program \(KernelFlowPass.programName)): no packet is lost between reading and removing a flow"
            : "flows are read and removed from userland: this monitor was loaded without the kernel pass (it needs BPF ring buffers and bpf_for_each_map_elem, Linux 5.13)")
        let stop = StopSignal()
        stop.install()
        if let server {
            server.start()
            messages.info("serving metrics at http://\(server.address)/metrics (port \(server.port))")
        }
        defer { server?.stop() }
        let summary = try service.run(until: stop)
        try exporter.close()
        var line = "exported \(summary.exported) flows"
        if summary.evicted > 0 { line += ", \(summary.evicted) of them early for lack of room in the table" }
        if summary.failedPasses > 0 { line += ", \(summary.failedPasses) collector passes failed" }
        if summary.lost > 0 { line += "; \(summary.lost) flows could not be written and are lost" }
        if summary.lost > 0 { messages.problem(line) } else { messages.info(line) }
        let all: [KernelCounter: UInt64] = (try? instance.maps.counters.kernelCounters()) ?? [:]
        let counters = all.filter { $0.value > 0 }
        if !counters.isEmpty {
            messages.info("kernel counters: " + counters.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.jsonName)=\($0.value)" }.joined(separator: " "))
        }
        // flows were lost: the exit status says so, as for any other failure
        if summary.lost > 0 { throw ExitCode.failure }
    }
}
