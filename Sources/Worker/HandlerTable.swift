import CloudBus
import Foundation

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
            resourceKey: { message in handler.resourceKey(for: message as! H.Message) },
            ownedResource: { message in handler.ownedResource(for: message as! H.Message) },
            handle: { message, context in try await handler.handle(message as! H.Message, context: context) })
    }

    var registry: MessageRegistry { MessageRegistry(types) }

    func entry(for className: String) -> Entry? { entries[className] }
}
