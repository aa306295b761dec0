/// A KMIP request message with one batch item, and reading the response to it (KMIP 1.2
/// specification, sections 6 and 7). Pure: the connection (KMIPConnection) carries the bytes.
public enum KMIPMessage {
    /// KMIP 1.2: the first version with Encrypt and Decrypt (what PyKMIP speaks by default).
    public static let protocolVersion: (major: Int32, minor: Int32) = (1, 2)
    /// A key server's response is read up to this size (a symmetric key's Get is under 1 KiB).
    public static let maxResponseBytes = 1 << 20

    public static func request(_ operation: KMIPEnum.Operation, payload: [TTLV]) -> TTLV {
        TTLV(KMIPTag.requestMessage, .structure([
            TTLV(KMIPTag.requestHeader, .structure([
                TTLV(KMIPTag.protocolVersion, .structure([
                    TTLV(KMIPTag.protocolVersionMajor, .integer(protocolVersion.major)),
                    TTLV(KMIPTag.protocolVersionMinor, .integer(protocolVersion.minor)),
                ])),
                TTLV(KMIPTag.batchCount, .integer(1)),
            ])),
            TTLV(KMIPTag.batchItem, .structure([
                TTLV(KMIPTag.operation, .enumeration(operation.rawValue)),
                TTLV(KMIPTag.requestPayload, .structure(payload)),
            ])),
        ]))
    }

    /// The payload of the response to `operation`: its one batch item must be that operation and
    /// succeed. A server's refusal is `.refused` with its result reason and message.
    public static func payload(ofResponse response: TTLV, to operation: KMIPEnum.Operation) throws(KMIPError) -> TTLV {
        guard response.tag == KMIPTag.responseMessage, response[KMIPTag.responseHeader] != nil else {
            throw .malformed("not a KMIP response message")
        }
        let items = response.items.filter { $0.tag == KMIPTag.batchItem }
        guard items.count == 1, let item = items.first else { throw .malformed("\(items.count) batch items, not 1") }
        guard case .enumeration(let status)? = item[KMIPTag.resultStatus]?.value else { throw .malformed("no result status") }
        guard status == KMIPEnum.statusSuccess else {
            var reason: UInt32?
            if case .enumeration(let r)? = item[KMIPTag.resultReason]?.value { reason = r }
            var message: String?
            if case .textString(let m)? = item[KMIPTag.resultMessage]?.value { message = m }
            throw .refused(status: status, reason: reason, message: message)
        }
        if let op = item[KMIPTag.operation], op.value != .enumeration(operation.rawValue) {
            throw .malformed("the response is for another operation")
        }
        guard let payload = item[KMIPTag.responsePayload] else { throw .malformed("no response payload") }
        return payload
    }
}

/// What can go wrong talking to a KMIP server. Never holds key material.
public enum KMIPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server answered with something that is not the expected KMIP response.
    case malformed(String)
    /// The server refused the operation (Result Status other than Success).
    case refused(status: UInt32, reason: UInt32?, message: String?)
    /// The connection could not be made or broke (TLS, socket, timeout).
    case transport(String)
    /// This host's CA, client certificate or client key cannot be used (missing, unreadable,
    /// not PEM, a key that does not match the certificate).
    case localFiles(String)

    public var description: String {
        switch self {
        case .malformed(let why): "the key server's answer is malformed: \(why)"
        case .refused(let status, let reason, let message):
            "the key server refused (result status \(status)\(reason.map { ", reason \($0)" } ?? "")): \(message ?? "no message")"
        case .transport(let why): "cannot talk to the key server: \(why)"
        case .localFiles(let why): "cannot use \(why)"
        }
    }
}
