import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenBench

/// The replay benchmark's nfstream rows: the speed-up is nfstream's median time over
/// `flowgen replay --features nfstream`'s, judged against issue 16's 20×, and absent rows say nothing.
@Suite struct ReplayBenchNfstreamTests {
    func result(flowgen: [Double]?, nfstream: [Double]?) -> ReplayBenchResult {
        var r = ReplayBenchResult(available: true, reason: nil, packets: 1000, flows: 10, tools: [], missingTools: [])
        if let flowgen {
            r.tools.append(.init(name: ReplayBenchResult.nfstreamFeaturesName, command: "flowgen replay FILE --features nfstream",
                                 seconds: BenchSamples(flowgen), coresUsed: 1))
        }
        if let nfstream {
            r.tools.append(.init(name: ReplayBenchResult.nfstreamName, command: "python nfstream-flows.py FILE --count",
                                 seconds: BenchSamples(nfstream), coresUsed: 1))
        }
        return r
    }

    @Test func theSpeedupIsTheRatioOfMediansAndMissesBelowTwentyTimes() {
        let slow = result(flowgen: [1.0, 1.25, 5.0], nfstream: [9.0, 12.0, 11.25])  // medians 1.25 and 11.25: 9×
        #expect(slow.nfstreamSpeedup == 9.0)
        #expect(slow.misses.contains { $0.contains("9.00x faster than nfstream 6.6") && $0.contains("target ≥ 20.00x") })
        #expect(slow.render().contains("nfstream 6.6/flowgen --features nfstream 9.00x (target ≥ 20.00x) MISS"))
        let fast = result(flowgen: [0.5], nfstream: [11.0])
        #expect(fast.nfstreamSpeedup == 22.0)
        #expect(!fast.misses.contains { $0.contains("nfstream") })
        #expect(result(flowgen: [0.5], nfstream: nil).nfstreamSpeedup == nil)
        #expect(result(flowgen: nil, nfstream: [3.0]).misses.isEmpty)
    }
}
