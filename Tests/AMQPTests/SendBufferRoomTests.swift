@_spi(RawSession) @testable import AMQP
import CloudBusTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The room a session reports for writes that must never wait comes from a count of what it wrote since it last asked
/// the kernel. The count must never fall below the kernel's queue; with the broker reading, the queue drains at once
/// and any count would pass, so the broker's memory alarm stops its reading and the queue grows. In the disruptive
/// suite: the alarm blocks every publisher on the broker.
extension DisruptiveConnectionTests {
    @Test("with the broker not reading, the room a session counts is never more than the kernel leaves",
          .enabled(if: TestBroker.controllable))
    func countedRoomNeverExceedsTheKernels() async throws {
        let session = try RabbitSession(configuration: TestBroker.configuration())
        defer { session.close() }
        let queue = TestBroker.uniqueName("test.counted-room")
        try session.declare(QueueDeclaration(name: queue))
        defer { try? TestBroker.deleteQueues([queue]) }
        _ = session.sendBufferRoom(refreshingSize: true)  // the buffer's size as it is now, and a first count
        let body = [UInt8](repeating: 7, count: 64 * 1024)
        var written = 0, largestKernelQueue = 0
        try TestBroker.control("memory-alarm", "on")
        try await withTeardown({ try? TestBroker.control("memory-alarm", "off") }) {
            while written < 32 << 20 {
                let room = session.sendBufferRoom()
                // Asked after the session's answer: the kernel's queue only shrinks meanwhile.
                let (kernelRoom, kernelQueue) = try Self.kernelRoom(session.socketDescriptor)
                largestKernelQueue = max(largestKernelQueue, kernelQueue)
                #expect(room <= kernelRoom,
                        "counted room \(room) over the kernel's \(kernelRoom) after \(written) bytes")
                guard room <= kernelRoom, session.fits(publishOf: body.count, in: room) else { break }
                try session.queuePublish(OutgoingMessage(exchange: "", routingKey: queue, body: body), messageID: nil)
                guard try session.flushQueued(waiting: false) else { break }
                written += body.count
            }
        }
        // The comparison above meant something only if the kernel held back much of what was written.
        #expect(largestKernelQueue > 256 * 1024, "the broker kept reading: \(largestKernelQueue) bytes queued at most")
    }

    /// A quarter of `SO_SNDBUF` less the kernel's send queue (the rule the session applies), and that queue.
    private static func kernelRoom(_ socket: Int32) throws -> (room: Int, queued: Int) {
        var queued: Int32 = 0, size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try #require(ioctl(socket, UInt(TIOCOUTQ), &queued) == 0)
        try #require(getsockopt(socket, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0)
        return (max(0, Int(size) / 4 - Int(queued)), Int(queued))
    }
}
