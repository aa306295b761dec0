/// The request payloads of the KMIP operations the key source uses, and what their responses
/// carry (KMIP 1.1 specification, section 4). The data key tdefs asks a server to Encrypt and
/// Decrypt travels in locked memory on tdefs' side (SecureBytes); TTLV holds it only while a
/// message is built or read.
public enum KMIPOperation {
    static func attribute(_ name: String, _ value: TTLV.Value) -> TTLV {
        TTLV(KMIPTag.attribute, .structure([TTLV(KMIPTag.attributeName, .textString(name)), TTLV(KMIPTag.attributeValue, value)]))
    }

    /// Create: an AES key of `bits` for Encrypt and Decrypt, named `name` when given.
    public static func create(bits: Int32, name: String?) -> [TTLV] {
        var attributes = [
            attribute("Cryptographic Algorithm", .enumeration(KMIPEnum.algorithmAES)),
            attribute("Cryptographic Length", .integer(bits)),
            attribute("Cryptographic Usage Mask", .integer(KMIPEnum.usageEncrypt | KMIPEnum.usageDecrypt)),
        ]
        if let name {
            attributes.append(attribute("Name", .structure([TTLV(KMIPTag.nameValue, .textString(name)),
                                                            TTLV(KMIPTag.nameType, .enumeration(KMIPEnum.nameTypeText))])))
        }
        return [TTLV(KMIPTag.objectType, .enumeration(KMIPEnum.objectTypeSymmetricKey)), TTLV(KMIPTag.templateAttribute, .structure(attributes))]
    }

    /// Locate the symmetric keys named `name` (a text Name attribute).
    public static func locate(name: String) -> [TTLV] {
        [attribute("Object Type", .enumeration(KMIPEnum.objectTypeSymmetricKey)),
         attribute("Name", .structure([TTLV(KMIPTag.nameValue, .textString(name)),
                                       TTLV(KMIPTag.nameType, .enumeration(KMIPEnum.nameTypeText))]))]
    }

    /// Every Unique Identifier of a Locate response payload (none when nothing matched).
    public static func uniqueIdentifiers(of payload: TTLV) -> [String] {
        payload.items.compactMap { item in
            guard item.tag == KMIPTag.uniqueIdentifier, case .textString(let id) = item.value, !id.isEmpty else { return nil }
            return id
        }
    }

    /// Activate, Get and Destroy name only the object.
    public static func object(_ id: String) -> [TTLV] { [TTLV(KMIPTag.uniqueIdentifier, .textString(id))] }

    /// Encrypt or Decrypt `data` with key `id`: AES-CBC with PKCS#5 padding under `iv` (16 bytes).
    public static func cipher(_ id: String, data: [UInt8], iv: [UInt8]) -> [TTLV] {
        [
            TTLV(KMIPTag.uniqueIdentifier, .textString(id)),
            TTLV(KMIPTag.cryptographicParameters, .structure([
                TTLV(KMIPTag.blockCipherMode, .enumeration(KMIPEnum.modeCBC)),
                TTLV(KMIPTag.paddingMethod, .enumeration(KMIPEnum.paddingPKCS5)),
                TTLV(KMIPTag.cryptographicAlgorithm, .enumeration(KMIPEnum.algorithmAES)),
            ])),
            TTLV(KMIPTag.data, .byteString(data)),
            TTLV(KMIPTag.ivCounterNonce, .byteString(iv)),
        ]
    }

    /// Revoke key `id` because its owner withdrew it (Cessation of Operation).
    public static func revoke(_ id: String) -> [TTLV] {
        [TTLV(KMIPTag.uniqueIdentifier, .textString(id)),
         TTLV(KMIPTag.revocationReason, .structure([TTLV(KMIPTag.revocationReasonCode, .enumeration(KMIPEnum.revocationCessationOfOperation))]))]
    }

    /// The Unique Identifier of a Create (or any) response payload.
    public static func uniqueIdentifier(of payload: TTLV) throws(KMIPError) -> String {
        guard case .textString(let id)? = payload[KMIPTag.uniqueIdentifier]?.value, !id.isEmpty else {
            throw .malformed("no unique identifier")
        }
        return id
    }

    /// The Data of an Encrypt or Decrypt response payload.
    public static func data(of payload: TTLV) throws(KMIPError) -> [UInt8] {
        guard case .byteString(let data)? = payload[KMIPTag.data]?.value else { throw .malformed("no data") }
        return data
    }

    /// The raw key bytes of a Get response payload for a symmetric key.
    public static func keyMaterial(of payload: TTLV) throws(KMIPError) -> [UInt8] {
        guard let block = payload[KMIPTag.symmetricKey]?[KMIPTag.keyBlock],
              case .byteString(let key)? = block[KMIPTag.keyValue]?[KMIPTag.keyMaterial]?.value else {
            throw .malformed("no symmetric key material")
        }
        return key
    }
}
