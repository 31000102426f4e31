import CloudBus
import Foundation
import Primitives

/// Type-erased handlers by Java class name, plus the registry the codec decodes with.
public struct HandlerTable: Sendable {
    struct Entry: Sendable {
        let expectsReply: Bool
        let coalescesWhileWaiting: Bool
        let isLightweight: Bool
        let resourceKey: @Sendable (any BusMessage) -> String
        let ownedResource: @Sendable (any BusMessage) -> String?
        let handle: @Sendable (any BusMessage, HandlerContext) async throws -> HandlerOutput
    }

    private(set) var entries: [String: Entry] = [:]
    private(set) var types: [any BusMessage.Type] = []

    public init() {}

    public mutating func register<H: BusHandler>(_ handler: H) {
        types.append(H.Message.self)
        entries[H.Message.className] = Entry(
            expectsReply: handler.expectsReply,
            coalescesWhileWaiting: handler.coalescesWhileWaiting,
            isLightweight: handler.isLightweight,
            resourceKey: { message in handler.resourceKey(for: Self.typed(message, as: H.Message.self)) },
            ownedResource: { message in handler.ownedResource(for: Self.typed(message, as: H.Message.self)) },
            handle: { message, context in
                try await handler.handle(Self.typed(message, as: H.Message.self), context: context)
            })
    }

    /// A decoded message as its handler's type. The codec decoded it as the type registered with the handler, so the
    /// type comparison holds (``identityCast(_:to:)``: two runtime casts per message saved); `as!` only if the
    /// table were built wrong.
    @inline(__always)
    private static func typed<M: BusMessage>(_ message: any BusMessage, as type: M.Type) -> M {
        message.identityCast(to: type) ?? (message as! M)
    }

    var registry: MessageRegistry { MessageRegistry(types) }

    func entry(for className: String) -> Entry? { entries[className] }
}

extension BusMessage {
    /// This message as an `M` when its type is exactly `M` (`Self` is the existential's opened type here).
    fileprivate func identityCast<M: BusMessage>(to type: M.Type) -> M? { Primitives.identityCast(self, to: type) }
}
