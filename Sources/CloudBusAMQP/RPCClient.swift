import AMQP
import CloudBus
import Foundation
import Logging
import Primitives
import Synchronization

/// Sends requests on the bus and waits for their replies by correlation id — how the CLI, the
/// tests and the benchmark talk to workers, exactly as a ZStack management node would.
///
/// The client owns a reply inbox `zstack.message.cloudbus.<clientNode>` bound to `P2P`. Each call
/// stamps `id`, `headers.correlationId`, `headers.replyTo` and `noReply = "false"`, publishes with
/// a confirm, and waits up to its timeout; late replies are dropped and counted.
public final class RPCClient: Sendable {
    public let node: NodeUUID
    public let publisher: BusPublisher
    private let pending = Mutex<[String: CheckedContinuation<RPCReply, any Error>]>([:])
    private let lateReplies = Atomic<Int>(0)
    private let consumer: Mutex<Task<Void, Never>?> = Mutex(nil)

    public var inbox: String { ServiceID.replyInbox(of: node).queueName }

    public init(connection: AMQPConnection, node: NodeUUID = .random(), persistent: Bool = false) {
        self.node = node
        self.publisher = BusPublisher(connection: connection, persistent: persistent)
    }

    /// Declares the inbox and starts matching replies. Call once after the connection started.
    public func start() async throws(AMQPError) {
        try await publisher.connection.declare(BusTopology.replyInbox(node: node))
        let replies = try await publisher.connection.consume(ConsumerSpecification(queue: inbox, noAck: true))
        let task = Task { [weak self] in
            for await delivery in replies {
                self?.accept(delivery.body)
            }
        }
        consumer.withLock { $0 = task }
    }

    /// Replies that arrived after their caller gave up (or that matched nothing).
    public var lateReplyCount: Int { lateReplies.load(ordering: .relaxed) }

    private func accept(_ body: [UInt8]) {
        guard let reply = try? RPCReply(body: Data(body)), let correlationId = reply.correlationId,
              let continuation = pending.withLock({ $0.removeValue(forKey: correlationId) })
        else {
            lateReplies.add(1, ordering: .relaxed)
            return
        }
        continuation.resume(returning: reply)
    }

    /// Where a request goes.
    public enum Destination: Sendable {
        case service(String)
        case queue(String)
    }

    /// Sends `{"<class>": {fields}}` (any class: the CLI sends what the user wrote) and waits for
    /// the reply. Missing base fields are filled in; `timeout` defaults to the call's timeout.
    public func call(envelope: Data, to destination: Destination, timeout: Duration = .seconds(30)) async throws -> RPCReply {
        let (id, body) = try prepare(envelope, destination: destination, timeout: timeout)
        return try await withThrowingTaskGroup(of: RPCReply.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    self.pending.withLock { $0[id] = continuation }
                    Task {
                        do {
                            let outcome = try await self.publish(body, to: destination)
                            if case .returned(let code, let text) = outcome {
                                self.fail(id, with: RPCError.unroutable(replyCode: code, replyText: text))
                            }
                        } catch {
                            self.fail(id, with: error)
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw RPCError.timeout(messageId: id, after: timeout)
            }
            defer { group.cancelAll() }
            do {
                let first = try await group.next()!
                return first
            } catch {
                fail(id, with: error)
                throw error
            }
        }
    }

    /// Publishes without waiting for a reply (fire-and-forget requests, events, raw test bodies).
    @discardableResult
    public func send(raw body: Data, to destination: Destination) async throws(AMQPError) -> PublishOutcome {
        try await publish(body, to: destination)
    }

    private func publish(_ body: Data, to destination: Destination) async throws(AMQPError) -> PublishOutcome {
        switch destination {
        case .service(let serviceId): try await publisher.send(body: body, to: serviceId)
        case .queue(let queue): try await publisher.send(body: body, toQueue: queue)
        }
    }

    private func fail(_ id: String, with error: any Error) {
        pending.withLock { $0.removeValue(forKey: id) }?.resume(throwing: error)
    }

    /// Fills the base fields a sender owns; keeps whatever the caller set explicitly.
    func prepare(_ envelope: Data, destination: Destination, timeout: Duration) throws -> (String, Data) {
        let parsed = try JSONValue(parsing: envelope)
        guard case .object(let outer) = parsed, outer.count == 1, let (className, inner) = outer.first,
              case .object(var fields) = inner
        else { throw RPCError.notAnEnvelope }
        let id = fields["id"]?.stringValue ?? MessageID.random()
        let now = EpochMillis.now()
        let timeoutMillis = timeout.inMilliseconds
        fields["id"] = .string(id)
        if fields["createdTime"] == nil { fields["createdTime"] = .integer(now) }
        if fields["timeout"] == nil { fields["timeout"] = .integer(timeoutMillis) }
        if case .service(let serviceId) = destination, fields["serviceId"] == nil { fields["serviceId"] = .string(serviceId) }
        var headers = fields["headers"]?.objectValue ?? [:]
        headers["correlationId"] = .string(id)
        headers["replyTo"] = .string(inbox)
        if headers["noReply"] == nil { headers["noReply"] = .string("false") }
        if headers["schema"] == nil { headers["schema"] = .object([:]) }
        fields["headers"] = .object(headers)
        return (id, try JSONValue.object([className: .object(fields)]).jsonData())
    }

    public func close() async {
        consumer.withLock { $0?.cancel() }
        let waiting = pending.withLock { table in
            let all = Array(table.values)
            table.removeAll()
            return all
        }
        for continuation in waiting { continuation.resume(throwing: RPCError.closed) }
    }
}

/// A reply as received: class, fields, and the raw body for printing.
public struct RPCReply: Sendable {
    public let className: String
    public let fields: [String: JSONValue]
    public let raw: Data

    public init(body: Data) throws {
        guard case .object(let outer) = try JSONValue(parsing: body), outer.count == 1,
              let (className, inner) = outer.first, case .object(let fields) = inner
        else { throw RPCError.notAnEnvelope }
        self.className = className
        self.fields = fields
        self.raw = body
    }

    public var correlationId: String? { fields["headers"]?["correlationId"]?.stringValue }
    /// Java reads a missing `success` as true.
    public var success: Bool { fields["success"]?.boolValue ?? true }
    public var errorCode: String? { fields["error"]?["code"]?.stringValue }
}

public enum RPCError: Error, CustomStringConvertible, Equatable {
    case timeout(messageId: String, after: Duration)
    case unroutable(replyCode: UInt16, replyText: String)
    case notAnEnvelope
    case closed

    public var description: String {
        switch self {
        case .timeout(let id, let after): "no reply to message \(id) within \(after)"
        case .unroutable(let code, let text): "no queue took the request (\(code) \(text)): is a worker serving it?"
        case .notAnEnvelope: "the body is not a one-key JSON object {\"<class>\": {…}}"
        case .closed: "the RPC client was closed"
        }
    }
}
