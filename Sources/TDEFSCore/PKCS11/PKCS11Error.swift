/// What can go wrong with a PKCS#11 token. Names the module, the token URI and the PKCS#11 return
/// value; never a PIN or key material.
public struct PKCS11Error: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The module could not be loaded or initialized, or the token needs a PIN none was given for.
        case setup
        /// The URI is malformed or holds a PIN.
        case badURI
        /// No token matching the URI is present (unplugged, not yet initialized): may come back.
        case tokenAbsent
        /// The token refused the PIN.
        case pinIncorrect
        /// The key the URI names is not on the token (deleted), or is not an AES key for
        /// encryption and decryption.
        case keyMissing
        /// The token's decryption did not authenticate (another key, or a damaged record).
        case notAuthentic
        /// Any other failure of a PKCS#11 call.
        case failed
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }

    public var description: String { "PKCS#11: \(message)" }

    /// A failed call, named with its return value (CKR_... in hex).
    static func call(_ name: String, _ rv: UInt, _ what: String) -> PKCS11Error {
        let kind: Kind
        switch rv {
        case 0xA0: kind = .pinIncorrect                         // CKR_PIN_INCORRECT
        case 0xE0, 0xE1, 0x32: kind = .tokenAbsent              // CKR_TOKEN_NOT_PRESENT, _NOT_RECOGNIZED, CKR_DEVICE_REMOVED
        case 0x40, 0x41: kind = .notAuthentic                  // CKR_ENCRYPTED_DATA_INVALID, _LEN_RANGE
        case 0x82, 0x60, 0x68: kind = .keyMissing              // CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID, CKR_KEY_FUNCTION_NOT_PERMITTED
        default: kind = .failed
        }
        return PKCS11Error(kind, "\(what): \(name) failed (CKR 0x\(String(rv, radix: 16)))")
    }
}
