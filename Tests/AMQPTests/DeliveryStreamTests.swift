@testable import AMQP
import Synchronization
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

    @Test("a direct acceptor takes what arrives while the reader waits; what it declines goes to the reader")
    func directAcceptorWhileTheReaderWaits() async {
        let stream = DeliveryStream()
        let accepted = Mutex<[UInt64]>([])
        // Takes even tags, declines odd ones (having done nothing with them).
        stream.acceptDirectly { delivery in
            guard delivery.tag.value % 2 == 0 else { return false }
            accepted.withLock { $0.append(delivery.tag.value) }
            return true
        }
        let reader = Task {
            var values: [UInt64] = []
            for await delivery in stream { values.append(delivery.tag.value) }
            return values
        }
        for value in 1...6 as ClosedRange<UInt64> {
            // Offered directly only to a waiting reader with nothing buffered: wait for that each time.
            while !stream.readerIsWaiting { await Task.yield() }
            stream.yield(Self.delivery(value))
        }
        while !stream.readerIsWaiting { await Task.yield() }
        stream.finish()
        #expect(await reader.value == [1, 3, 5])
        #expect(accepted.withLock { $0 } == [2, 4, 6])
    }

    @Test("nothing is offered directly while the reader has work: the consumer's order holds across both paths")
    func directAcceptorNotOfferedAheadOfTheReader() async {
        let stream = DeliveryStream()
        let offered = Mutex<[UInt64]>([])
        stream.acceptDirectly { delivery in
            offered.withLock { $0.append(delivery.tag.value) }
            return true
        }
        // No reader waits yet: buffered, in order, never offered.
        for value: UInt64 in 1...3 { stream.yield(Self.delivery(value)) }
        #expect(offered.withLock { $0 }.isEmpty)
        var iterator = stream.makeAsyncIterator()
        var read: [UInt64] = []
        for _ in 0..<3 { if let delivery = await iterator.next() { read.append(delivery.tag.value) } }
        #expect(read == [1, 2, 3])
        // The buffer is empty now, but the reader is not waiting (it is handling what it read): still buffered.
        stream.yield(Self.delivery(4))
        #expect(offered.withLock { $0 }.isEmpty)
        #expect(await iterator.next()?.tag.value == 4)
        // Once it waits, the next delivery goes to the acceptor and the reader stays asleep.
        let waiting = Task {
            var reader = stream.makeAsyncIterator()
            return await reader.next()?.tag.value
        }
        while !stream.readerIsWaiting { await Task.yield() }
        stream.yield(Self.delivery(5))
        #expect(offered.withLock { $0 } == [5])
        stream.finish()
        #expect(await waiting.value == nil)
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
