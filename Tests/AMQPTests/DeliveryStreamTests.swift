@testable import AMQP
import Testing

/// The consumer's stream on its own (the broker-backed tests in ConnectionTests read it end to end).
@Suite("DeliveryStream")
struct DeliveryStreamTests {
    private static func delivery(_ value: UInt64) -> Delivery {
        Delivery(tag: DeliveryTag(epoch: 1, value: value, acknowledgeable: true), queue: "q", exchange: "",
                 routingKey: "q", redelivered: false, properties: AMQPProperties(), body: [UInt8(value & 0xff)],
                 announcedBodySize: 1)
    }

    @Test func buffersInOrderAndEndsAfterWhatWasBufferedWhenFinished() async {
        let stream = DeliveryStream()
        // More than the compaction threshold, taken in two halves with more fed in between.
        for value: UInt64 in 1...100 { stream.yield(Self.delivery(value)) }
        var iterator = stream.makeAsyncIterator()
        var seen: [UInt64] = []
        for _ in 0..<70 { if let delivery = await iterator.next() { seen.append(delivery.tag.value) } }
        for value: UInt64 in 101...150 { stream.yield(Self.delivery(value)) }
        #expect(stream.bufferedCount == 80)
        stream.finish()
        stream.yield(Self.delivery(999))  // after finish: dropped
        while let delivery = await iterator.next() { seen.append(delivery.tag.value) }
        #expect(seen == Array(UInt64(1)...150))
        #expect(await iterator.next() == nil)
    }

    @Test func aWaitingReaderGetsTheNextDeliveryThenNilOnFinish() async {
        let stream = DeliveryStream()
        let reader = Task {
            var values: [UInt64] = []
            for await delivery in stream { values.append(delivery.tag.value) }
            return values
        }
        // Fed one at a time, each once the reader took the one before (so it waits for every one of them).
        for value in 1...5 as ClosedRange<UInt64> {
            while stream.bufferedCount > 0 { await Task.yield() }
            stream.yield(Self.delivery(value))
        }
        while stream.bufferedCount > 0 { await Task.yield() }
        stream.finish()
        #expect(await reader.value == [1, 2, 3, 4, 5])
    }

    @Test func cancellingAWaitingReaderEndsItsStream() async {
        let stream = DeliveryStream()
        let started = AsyncStream<Void>.makeStream()
        let reader = Task {
            started.continuation.yield()
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        for await _ in started.stream { break }
        reader.cancel()
        #expect(await reader.value == 0)
        // Ended for good: a later delivery is dropped, not buffered.
        stream.yield(Self.delivery(1))
        #expect(stream.bufferedCount == 0)
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func aCancelledTaskGetsNilEvenWithDeliveriesBuffered() async {
        let stream = DeliveryStream()
        for value: UInt64 in 1...3 { stream.yield(Self.delivery(value)) }
        let reader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            var iterator = stream.makeAsyncIterator()
            // What is buffered is taken without waiting; the cancellation ends the stream where it would wait.
            var values: [UInt64] = []
            while let delivery = await iterator.next() { values.append(delivery.tag.value) }
            return values
        }
        #expect(await reader.value == [1, 2, 3])
    }
}
