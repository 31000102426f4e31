import Benchmark
import BenchmarkSupport
import CloudBus
import Foundation
import KVMMessages

// Inputs are fixed strings and seeded sequences, so every run measures the same work. Per-operation figures come
// from the inner loop (`scaledIterations`); the tool prints them divided by the scaling factor, marked `*`.

/// A PingHostMsg as a ZStack management node sends it (404 bytes): the host tracker's ping with every base field set.
let pingHostBody = Data(
    #"""
    {"org.zstack.header.host.PingHostMsg":{"hostUuid":"7dd11952b3c94fd5bbe94a140d7fbac6","timeout":1800000,\#
    "headers":{"correlationId":"f366ad3eff954f0fbf9e572ac462ff7b",\#
    "replyTo":"zstack.message.cloudbus.446d0be655ec32fc9922965af3bd984f","noReply":"false","schema":{},\#
    "task-context":{}},"id":"f366ad3eff954f0fbf9e572ac462ff7b","serviceId":"host.9b1d387e11bd3ab0a673c655eb4c8f66",\#
    "createdTime":1740739617000}}
    """#.utf8
)

/// The wire types plus the ping pair, as the worker registers them (its full catalogue only adds dictionary entries).
let registry = MessageRegistry(MessageRegistry.wireTypes + [PingHostMsg.self, PingHostReply.self])

/// Three management nodes, as in a small ZStack cluster.
let ringNodes = [
    "446d0be655ec32fc9922965af3bd984f", "9b1d387e11bd3ab0a673c655eb4c8f66", "c0ffee00d15ea5e5b01dfacecafe0001",
]

/// Cheap, seeded, dependency-free: the resource uuids are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// 1,024 resource uuids in ZStack's shape (32 lowercase hex digits), cycled so a lookup is not one cached path.
let resourceUUIDs: [String] = {
    var generator = SplitMix64(state: 14)
    return (0..<1024).map { _ in MessageID.random(using: &generator) }
}()

/// Fails loudly: a benchmark that silently measures an error path would report nonsense.
func decodePing() -> DecodedEnvelope {
    do {
        return try EnvelopeCodec.decode(pingHostBody, registry: registry)
    } catch {
        fatalError("PingHostMsg body does not decode: \(error)")
    }
}

let benchmarks: @Sendable () -> Void = {
    precondition(pingHostBody.count == 404, "PingHostMsg body is \(pingHostBody.count) bytes, expected 404")

    // JSONDecoder over the whole body, registry lookup, base fields and headers (the worker's per-delivery parse).
    Benchmark(
        "EnvelopeCodec.decode PingHostMsg (404 B)",
        configuration: .init(metrics: standardMetrics, scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { benchmark in
        benchmark.measuringProcessCPU {
            for _ in benchmark.scaledIterations {
                blackHole(decodePing())
            }
        }
    }

    // The reply the ping handler sends: ReplyFactory's headers and base, then JSONEncoder. `now` and `id` are
    // fixed so the input is the same each time; production adds one MessageID.random() and one clock read.
    let request = decodePing()
    precondition(request.typed(as: PingHostMsg.self) != nil, "decoded message is not a PingHostMsg")
    let pingReply = PingHostReply(connected: true, currentHostStatus: .connected)
    Benchmark(
        "ReplyFactory.reply PingHostReply + encoded()",
        configuration: .init(metrics: standardMetrics, scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { benchmark in
        benchmark.measuringProcessCPU {
            for _ in benchmark.scaledIterations {
                guard
                    let envelope = ReplyFactory.reply(
                        pingReply, to: request.base, now: 1_740_739_617_450, id: "0c5b2f0e3d7a4f4c9b1e2d3c4b5a6978")
                else {
                    fatalError("request has no replyTo")
                }
                do {
                    blackHole(try envelope.encoded())
                } catch {
                    fatalError("reply does not encode: \(error)")
                }
            }
        }
    }

    // The owner lookup every keyed request and every ping makes: Java string hash, then binary search over
    // 3 × 500 virtual nodes. Expected to allocate nothing.
    let ring = ConsistentHashRing(nodes: ringNodes)
    precondition(ring.virtualNodeCount > 1400, "ring has \(ring.virtualNodeCount) virtual nodes")
    Benchmark(
        "ConsistentHashRing.owner (3 nodes)",
        configuration: .init(metrics: standardMetrics, scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { benchmark in
        benchmark.measuringProcessCPU {
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(ring.owner(of: resourceUUIDs[index & 1023]))
                index &+= 1
            }
        }
    }
}
