import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The kept-alive HTTP/1.1 connections to agents of every ``AgentHTTPClient`` that shares an event loop group and a
/// pool shape (see ``AgentConnectionPools``), and the exchanges run on them (design: docs/design-agent-client.md).
///
/// Promises:
/// - **An exchange stays on one loop.** A call made on one of the group's loops (handlers prefer them, see
///   ``EventLoopTaskExecutor``) takes an idle connection of that loop or connects a new one there; a call from
///   elsewhere goes to its agent's home loop (one per agent), so sequential calls still share a connection.
/// - **Reuse only of a clean connection.** A connection goes back to its loop's idle list (newest first) only
///   after a complete response that allows keep-alive, with no call on it; one that is cancelled, past its deadline,
///   failed, or answered with more than the limit is closed.
/// - **Idle connections close** after the idle timeout (checked by a sweep every quarter of it, and before reuse),
///   before an agent's own keep-alive timeout can close one under a call.
/// - **At most `maxConnectionsPerAgent`** connections (idle or busy) per agent across the loops. A call that finds
///   none free waits for one to close, at most its connect timeout (then ``AgentHTTPError/connectTimeout(endpoint:timeout:)``);
///   while a call waits, that agent's released connections close instead of idling, and each other loop closes one
///   of its idle ones, so the slot reaches the waiter (a connection belongs to its loop; the waiter connects anew on
///   its own).
final class AgentConnectionPool: Sendable {
    let idleTimeout: Duration
    let maxConnectionsPerAgent: Int
    /// Every loop of the group, by identity; immutable, so a call finds its loop's idle list without a lock.
    private let loops: [ObjectIdentifier: NIOLoopBoundBox<LoopIdleConnections>]
    private let loopList: [any EventLoop]
    /// Open connections and waiting calls per agent: touched when a connection opens or closes, not per call.
    private let slots = Mutex<[AgentEndpoint: AgentSlots]>([:])
    /// Calls waiting for a slot, over all agents: read on every release; only when not zero is the agent's own
    /// queue looked at under the lock.
    private let waiting = Atomic<Int>(0)
    private let nextWaiterID = Atomic<Int>(0)

    init(group: any EventLoopGroup, idleTimeout: Duration, maxConnectionsPerAgent: Int) {
        self.idleTimeout = idleTimeout
        self.maxConnectionsPerAgent = max(1, maxConnectionsPerAgent)
        let loopList = Array(group.makeIterator())
        self.loopList = loopList
        var loops: [ObjectIdentifier: NIOLoopBoundBox<LoopIdleConnections>] = [:]
        for loop in loopList {
            loops[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(LoopIdleConnections(), eventLoop: loop)
        }
        self.loops = loops
    }

    /// Starts `request`; the result completes on the loop the exchange runs on. Thread-safe.
    func start(
        _ request: AgentHTTPClient.Request, deadline: NIODeadline, maxResponseBytes: Int
    ) -> AgentExchangeHandle {
        let loop = self.loop(for: request.endpoint)
        let handle = AgentExchangeHandle(
            loop: loop, promise: loop.makePromise(),
            box: .makeEmptyBox(valueType: AgentExchange.self, eventLoop: loop))
        if loop.inEventLoop {
            begin(handle, request: request, deadline: deadline, maxResponseBytes: maxResponseBytes)
        } else {
            loop.execute { self.begin(handle, request: request, deadline: deadline, maxResponseBytes: maxResponseBytes) }
        }
        return handle
    }

    /// The calling loop when it is one of ours, else the agent's home loop.
    private func loop(for endpoint: AgentEndpoint) -> any EventLoop {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop, loops[ObjectIdentifier(current)] != nil {
            return current
        }
        return loopList[Int(UInt(bitPattern: endpoint.hashValue) % UInt(loopList.count))]
    }

    // MARK: - On the exchange's loop

    private func begin(
        _ handle: AgentExchangeHandle, request: AgentHTTPClient.Request, deadline: NIODeadline, maxResponseBytes: Int
    ) {
        let loop = handle.loop
        let exchange = AgentExchange(
            request: request, deadline: deadline, maxResponseBytes: maxResponseBytes, promise: handle.promise,
            pool: self)
        handle.box.value = exchange
        exchange.deadlineTimer = loop.assumeIsolated().scheduleTask(deadline: deadline) {
            exchange.fail(AgentHTTPError.deadlineExceeded(endpoint: request.endpoint, path: request.path, timeout: request.budget))
        }
        if let connection = takeIdle(request.endpoint, on: loop) {
            exchange.run(on: connection)
            return
        }
        let waiterID = nextWaiterID.add(1, ordering: .relaxed).newValue
        let granted = slots.withLock { slots in
            var slot = slots[request.endpoint, default: AgentSlots()]
            defer { slots[request.endpoint] = slot }
            if slot.open < maxConnectionsPerAgent {
                slot.open += 1
                return true
            }
            slot.waiters.append(AgentSlots.Waiter(id: waiterID) {
                handle.loop.execute { handle.box.value?.slotGranted() }
            })
            // Counted before the lock is let go, so no release can miss the waiter and idle its connection.
            waiting.add(1, ordering: .relaxed)
            return false
        }
        if granted {
            connect(exchange, on: loop)
            return
        }
        exchange.waiterID = waiterID
        closeIdleElsewhere(request.endpoint, except: loop)
        let waitDeadline = NIODeadline.now() + TimeAmount(request.connectTimeout)
        if waitDeadline < deadline {
            exchange.waitTimer = loop.assumeIsolated().scheduleTask(deadline: waitDeadline) {
                exchange.fail(AgentHTTPError.connectTimeout(endpoint: request.endpoint, timeout: request.connectTimeout))
            }
        }
    }

    /// Asks every other loop to close one idle connection to `endpoint`: at the limit, a connection idling on
    /// another loop would otherwise hold the waiter's slot until the idle sweep. The close hands the slot over.
    private func closeIdleElsewhere(_ endpoint: AgentEndpoint, except loop: any EventLoop) {
        for other in loopList where ObjectIdentifier(other) != ObjectIdentifier(loop) {
            guard let box = loops[ObjectIdentifier(other)] else { continue }
            other.execute { box.value.popNewest(endpoint)?.channel.close(promise: nil) }
        }
    }

    /// The newest idle connection to `endpoint` on `loop` that is still open and not past the idle timeout; the
    /// others it meets on the way are closed.
    private func takeIdle(_ endpoint: AgentEndpoint, on loop: any EventLoop) -> AgentConnection? {
        guard let box = loops[ObjectIdentifier(loop)] else { return nil }
        let idle = box.value
        let oldest = NIODeadline.now() - TimeAmount(idleTimeout)
        while let connection = idle.popNewest(endpoint) {
            if connection.channel.isActive && connection.idleSince > oldest { return connection }
            connection.channel.close(promise: nil)
        }
        return nil
    }

    /// Connects a new connection for `exchange` on `loop`; its slot is already counted.
    func connect(_ exchange: AgentExchange, on loop: any EventLoop) {
        let request = exchange.request
        let remaining = exchange.deadline - NIODeadline.now()
        let connectTimeout = min(TimeAmount(request.connectTimeout), max(remaining, .milliseconds(1)))
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(HTTPRequestEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                    try pipeline.addHandler(AgentResponseHandler())
                }
            }
        let endpoint = request.endpoint
        let connected: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard let handler = try? channel.pipeline.syncOperations.handler(type: AgentResponseHandler.self)
                else {
                    channel.close(promise: nil)
                    self.releaseSlot(endpoint)
                    exchange.fail(AgentHTTPError.connectFailed(endpoint: endpoint, reason: "\(request.path): pipeline not set up"))
                    return
                }
                let connection = AgentConnection(channel: channel, endpoint: endpoint, handler: handler, pool: self)
                handler.connection = connection
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.closed(connection) }
                if exchange.isFinished {
                    self.release(connection)  // the call ended while connecting; the connection is clean
                } else {
                    exchange.run(on: connection)
                }
            case .failure(let error):
                self.releaseSlot(endpoint)
                exchange.fail(AgentHTTPClient.agentError(error, request: request, deadline: exchange.deadline))
            }
        }
    }

    /// Puts a connection whose exchange completed cleanly on its loop's idle list, or closes it when a call waits
    /// for a slot of its agent (the close hands the slot over). The lock is taken only while some call waits.
    func release(_ connection: AgentConnection) {
        guard connection.channel.isActive else { return }
        guard let box = loops[ObjectIdentifier(connection.channel.eventLoop)],
            waiting.load(ordering: .relaxed) == 0 || waitingCalls(for: connection.endpoint) == 0
        else {
            connection.channel.close(promise: nil)
            return
        }
        connection.idleSince = .now()
        let idle = box.value
        idle.push(connection)
        if idle.sweep == nil { scheduleSweep(idle, on: connection.channel.eventLoop) }
    }

    /// Closes the idle connections of `loop` past the idle timeout, every quarter of it while any is idle.
    private func scheduleSweep(_ idle: LoopIdleConnections, on loop: any EventLoop) {
        let period = TimeAmount.nanoseconds(max(TimeAmount(idleTimeout).nanoseconds / 4, 10_000_000))
        idle.sweep = loop.assumeIsolated().scheduleTask(in: period) {
            idle.sweep = nil
            let oldest = NIODeadline.now() - TimeAmount(self.idleTimeout)
            for connection in idle.removeIdle(since: oldest) { connection.channel.close(promise: nil) }
            if idle.count > 0 { self.scheduleSweep(idle, on: loop) }
        }
    }

    /// A connection closed (by us, the agent or an error): off the idle list, its slot freed.
    private func closed(_ connection: AgentConnection) {
        if let box = loops[ObjectIdentifier(connection.channel.eventLoop)] { box.value.remove(connection) }
        releaseSlot(connection.endpoint)
    }

    /// Frees one slot of `endpoint`, or hands it to the first waiting call.
    func releaseSlot(_ endpoint: AgentEndpoint) {
        let waiter: AgentSlots.Waiter? = slots.withLock { slots in
            guard var slot = slots[endpoint] else { return nil }
            if !slot.waiters.isEmpty {
                let waiter = slot.waiters.removeFirst()
                slots[endpoint] = slot
                return waiter
            }
            slot.open -= 1
            slots[endpoint] = slot.open > 0 ? slot : nil
            return nil
        }
        if let waiter {
            waiting.subtract(1, ordering: .relaxed)
            waiter.grant()
        }
    }

    /// Takes a call that gave up (deadline, connect timeout, cancellation) out of the queue; false when a slot was
    /// granted to it meanwhile (the grant then arrives on its loop and gives the slot back).
    func stopWaiting(_ endpoint: AgentEndpoint, waiterID: Int) -> Bool {
        let removed = slots.withLock { slots in
            guard var slot = slots[endpoint], let index = slot.waiters.firstIndex(where: { $0.id == waiterID })
            else { return false }
            slot.waiters.remove(at: index)
            slots[endpoint] = slot
            return true
        }
        if removed { waiting.subtract(1, ordering: .relaxed) }
        return removed
    }

    /// Calls waiting for a slot of `endpoint`.
    func waitingCalls(for endpoint: AgentEndpoint) -> Int {
        slots.withLock { $0[endpoint]?.waiters.count ?? 0 }
    }

    /// Open connections to `endpoint` (idle or busy), for tests.
    func openConnections(to endpoint: AgentEndpoint) -> Int {
        slots.withLock { $0[endpoint]?.open ?? 0 }
    }
}

/// Open connections to one agent and the calls waiting for one of them to close.
struct AgentSlots: Sendable {
    struct Waiter: Sendable {
        var id: Int
        var grant: @Sendable () -> Void
    }

    var open = 0
    var waiters: [Waiter] = []
}

/// What a caller holds of a running exchange: its result, and a way to cancel it from any thread.
struct AgentExchangeHandle: Sendable {
    let loop: any EventLoop
    let promise: EventLoopPromise<AgentHTTPResponse>
    /// The exchange, set on `loop` when it begins.
    let box: NIOLoopBoundBox<AgentExchange?>

    var futureResult: EventLoopFuture<AgentHTTPResponse> { promise.futureResult }

    /// Ends the exchange with `CancellationError`; its connection, if it has one, is closed, never reused.
    func cancel() {
        loop.execute { box.value?.fail(CancellationError()) }
    }
}

/// The idle connections of one event loop, per agent, newest last. Only touched on that loop.
final class LoopIdleConnections {
    private var byAgent: [AgentEndpoint: [AgentConnection]] = [:]
    private(set) var count = 0
    var sweep: Scheduled<Void>?

    func push(_ connection: AgentConnection) {
        byAgent[connection.endpoint, default: []].append(connection)
        count += 1
    }

    func popNewest(_ endpoint: AgentEndpoint) -> AgentConnection? {
        guard let connection = byAgent[endpoint]?.popLast() else { return nil }
        count -= 1
        return connection
    }

    func remove(_ connection: AgentConnection) {
        guard let index = byAgent[connection.endpoint]?.firstIndex(where: { $0 === connection }) else { return }
        byAgent[connection.endpoint]!.remove(at: index)
        count -= 1
    }

    /// Takes out the connections idle since before `oldest`: a prefix of each list, which is in idling order.
    func removeIdle(since oldest: NIODeadline) -> [AgentConnection] {
        var expired: [AgentConnection] = []
        for (endpoint, connections) in byAgent {
            let stale = connections.firstIndex { $0.idleSince > oldest } ?? connections.count
            guard stale > 0 else { continue }
            expired += connections[..<stale]
            byAgent[endpoint] = stale == connections.count ? nil : Array(connections[stale...])
        }
        count -= expired.count
        return expired
    }
}

/// One kept-alive connection to an agent. Only touched on its channel's loop.
final class AgentConnection {
    let channel: any Channel
    let endpoint: AgentEndpoint
    let handler: AgentResponseHandler
    /// Where the connection goes back to after a clean exchange.
    let pool: AgentConnectionPool
    var idleSince: NIODeadline = .uptimeNanoseconds(0)

    init(channel: any Channel, endpoint: AgentEndpoint, handler: AgentResponseHandler, pool: AgentConnectionPool) {
        self.channel = channel
        self.endpoint = endpoint
        self.handler = handler
        self.pool = pool
    }
}

/// One call on its loop: waiting for a slot, connecting, or on a connection; ends exactly once.
final class AgentExchange {
    let request: AgentHTTPClient.Request
    let deadline: NIODeadline
    let maxResponseBytes: Int
    private let promise: EventLoopPromise<AgentHTTPResponse>
    private let pool: AgentConnectionPool
    var deadlineTimer: Scheduled<Void>?
    var waitTimer: Scheduled<Void>?
    /// Set while the call waits for a slot of its agent.
    var waiterID: Int?
    private var connection: AgentConnection?
    private(set) var isFinished = false

    init(
        request: AgentHTTPClient.Request, deadline: NIODeadline, maxResponseBytes: Int,
        promise: EventLoopPromise<AgentHTTPResponse>, pool: AgentConnectionPool
    ) {
        self.request = request
        self.deadline = deadline
        self.maxResponseBytes = maxResponseBytes
        self.promise = promise
        self.pool = pool
    }

    /// A slot freed up while the call waited: connect, or give it back when the call already ended.
    func slotGranted() {
        guard waiterID != nil else { return }
        waiterID = nil
        waitTimer?.cancel()
        if isFinished {
            pool.releaseSlot(request.endpoint)
        } else {
            pool.connect(self, on: promise.futureResult.eventLoop)
        }
    }

    /// The connection closed before a complete answer.
    var connectionReset: AgentHTTPError {
        .connectionReset(endpoint: request.endpoint, path: request.path)
    }

    /// Sends the request on `connection`.
    func run(on connection: AgentConnection) {
        self.connection = connection
        connection.handler.send(self)
    }

    func succeed(_ response: AgentHTTPResponse) {
        guard !isFinished else { return }
        isFinished = true
        connection = nil
        deadlineTimer?.cancel()
        promise.succeed(response)
    }

    /// Ends the call with `error`; a connection it was on is closed (it may hold part of an answer).
    func fail(_ error: any Error) {
        guard !isFinished else { return }
        isFinished = true
        deadlineTimer?.cancel()
        waitTimer?.cancel()
        if let waiterID, pool.stopWaiting(request.endpoint, waiterID: waiterID) { self.waiterID = nil }
        if let connection {
            self.connection = nil
            connection.handler.detach(self)
            connection.channel.close(promise: nil)
        }
        promise.fail(error)
    }
}

/// The last handler of an agent connection: writes a call's request and reads its answer, up to the call's limit.
final class AgentResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    weak var connection: AgentConnection?
    private var context: ChannelHandlerContext?
    private var exchange: AgentExchange?
    private var status = 0
    private var keepAlive = false
    private var body: ByteBuffer?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes `exchange`'s request as head, body and end, flushed once.
    func send(_ exchange: AgentExchange) {
        guard let context, context.channel.isActive else {
            exchange.fail(exchange.connectionReset)
            return
        }
        self.exchange = exchange
        status = 0
        keepAlive = false
        body = nil
        let request = exchange.request
        var headers = HTTPHeaders()
        headers.reserveCapacity(3 + request.headers.count)
        headers.add(name: "Host", value: request.endpoint.description)
        var payload: ByteBuffer?
        if request.method == .POST {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(request.body.count))
            payload = context.channel.allocator.buffer(bytes: request.body)
        }
        for (name, value) in request.headers { headers.replaceOrAdd(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let payload { context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Forgets `exchange` (it ended elsewhere: deadline, cancellation); the connection is being closed.
    func detach(_ exchange: AgentExchange) {
        if self.exchange === exchange { self.exchange = nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            context.close(promise: nil)  // an answer nobody asked for: the connection's framing is off
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            keepAlive = head.isKeepAlive
        case .body(var buffer):
            let received = (body?.readableBytes ?? 0) + buffer.readableBytes
            guard received <= exchange.maxResponseBytes else {
                self.exchange = nil
                exchange.fail(AgentHTTPError.invalidResponse(
                    endpoint: exchange.request.endpoint, path: exchange.request.path,
                    reason: "body larger than \(exchange.maxResponseBytes) bytes"))
                context.close(promise: nil)
                return
            }
            if body == nil { body = buffer } else { body!.writeBuffer(&buffer) }
        case .end:
            self.exchange = nil
            let response = AgentHTTPResponse(status: status, body: body.map { Data($0.readableBytesView) } ?? Data())
            body = nil
            if keepAlive, let connection {
                connection.pool.release(connection)
            } else {
                context.close(promise: nil)
            }
            exchange.succeed(response)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange {
            self.exchange = nil
            exchange.fail(exchange.connectionReset)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange {
            self.exchange = nil
            exchange.fail(AgentHTTPClient.agentError(error, request: exchange.request, deadline: exchange.deadline))
        }
        context.close(promise: nil)
    }
}
