// XML Signature for OpenADR 2.0b through xmlsec1 (OpenSSL backend): the canonicalization, digests and
// signatures are the library's; this shim only builds the 2.0b signature template, restricts what a
// verification may reach (same-document references only, the key given) and reads the results.
// Used by Sources/OpenADR2bSignals/XMLSignature.swift.
// pkg-config's -D flags for xmlsec1-openssl, which SwiftPM does not pass on: they fix the ABI
// (XMLSEC_NO_SIZE_T: xmlSecSize is unsigned int) and pick the OpenSSL backend, so they must match.
#define __XMLSEC_FUNCTION__ __func__
#define XMLSEC_NO_SIZE_T 1
#define XMLSEC_OPENSSL3_ENGINES 1
#define XMLSEC_NO_GOST 1
#define XMLSEC_NO_GOST2012 1
#define XMLSEC_NO_CRYPTO_DYNAMIC_LOADING 1
#define XMLSEC_CRYPTO_OPENSSL 1
#include <libxml/xmlversion.h>
// As in CLibXML2: leave out libxml2's ICU part, which clashes with Foundation's copy of ICU.
#undef LIBXML_ICU_ENABLED
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/base64.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>

static const char *fm_oadr_ns = "http://openadr.org/oadr-2.0b/2012/07";
static const char *fm_dsp_ns = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties";

/// Once per process, before any other call: 0 on success.
static inline int fm_xmlsec_init(void) {
    xmlSecErrorsDefaultCallbackEnableOutput(0);
    if (xmlSecInit() < 0) return -1;
    if (xmlSecCheckVersion() != 1) return -2;
    if (xmlSecCryptoAppInit(NULL) < 0) return -3;
    if (xmlSecCryptoInit() < 0) return -4;
    return 0;
}

static inline void fm_set_error(char *err, int errLen, const char *text) {
    if (err && errLen > 0) { strncpy(err, text, (size_t)errLen - 1); err[errLen - 1] = 0; }
}

/// Parses with no network, no entity expansion and no DTD loading; a document with a DTD is refused (2.0b
/// messages have none, and a DTD could declare ID attributes or entities).
static inline xmlDocPtr fm_parse(const char *xml, int len) {
    xmlDocPtr doc = xmlReadMemory(xml, len, "oadrPayload.xml", NULL, XML_PARSE_NONET);
    if (doc && doc->intSubset) { xmlFreeDoc(doc); return NULL; }
    return doc;
}

/// The element child of `parent` named `name` in namespace `ns`, if exactly one.
static inline xmlNodePtr fm_child(xmlNodePtr parent, const char *name, const char *ns) {
    xmlNodePtr found = NULL;
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(c, BAD_CAST name, BAD_CAST ns)) continue;
        if (found) return NULL;
        found = c;
    }
    return found;
}

/// Registers the `Id` attribute of `node` as an XML ID (so `#id` references resolve); 0 on success, -1 when
/// missing or already used (a duplicate Id is how signature wrapping starts).
static inline int fm_register_id(xmlDocPtr doc, xmlNodePtr node, const char **idOut) {
    xmlAttrPtr attr = xmlHasProp(node, BAD_CAST "Id");
    if (!attr || !attr->children || !attr->children->content) return -1;
    const char *id = (const char *)attr->children->content;
    if (xmlGetID(doc, BAD_CAST id) != NULL) return -1;
    if (xmlAddID(NULL, doc, BAD_CAST id, attr) == NULL) return -1;
    if (idOut) *idOut = id;
    return 0;
}

/// Signs an oadrPayload in place of its signature: `<oadrPayload><ds:Signature>…</ds:Signature>
/// <oadrSignedObject Id=…>`. Exclusive C14N, SHA-256 digests, RSA-SHA256 or ECDSA-SHA256 by the key, the
/// certificate in KeyInfo, and a dsp:ReplayProtect (timestamp, nonce) in a signed ds:Object. On success
/// returns 0 and `*out` (xmlFree it).
static inline int fm_xmldsig_sign(const char *xml, int len, const unsigned char *key, int keyLen,
                                  const unsigned char *cert, int certLen, const char *timestamp,
                                  const char *nonce, xmlChar **out, int *outLen, char *err, int errLen) {
    int rc = -1;
    xmlSecDSigCtxPtr ctx = NULL;
    xmlDocPtr doc = fm_parse(xml, len);
    if (!doc) { fm_set_error(err, errLen, "the payload is not XML"); return -1; }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr obj = fm_child(root, "oadrSignedObject", fm_oadr_ns);
    if (!root || !xmlSecCheckNodeName(root, BAD_CAST "oadrPayload", BAD_CAST fm_oadr_ns) || !obj) {
        fm_set_error(err, errLen, "no oadrPayload/oadrSignedObject"); goto done;
    }
    if (!xmlHasProp(obj, BAD_CAST "Id")) xmlSetProp(obj, BAD_CAST "Id", BAD_CAST "oadrSignedObject");
    if (fm_register_id(doc, obj, NULL) < 0) { fm_set_error(err, errLen, "oadrSignedObject Id"); goto done; }
    xmlSecKeyPtr k = xmlSecCryptoAppKeyLoadMemory(key, (xmlSecSize)keyLen, xmlSecKeyDataFormatPem, NULL, NULL, NULL);
    if (!k) { fm_set_error(err, errLen, "cannot load the private key"); goto done; }
    if (xmlSecCryptoAppKeyCertLoadMemory(k, cert, (xmlSecSize)certLen, xmlSecKeyDataFormatPem) < 0) {
        xmlSecKeyDestroy(k);
        fm_set_error(err, errLen, "cannot load the certificate"); goto done;
    }
    int ec = xmlSecKeyDataCheckId(xmlSecKeyGetValue(k), xmlSecKeyDataEcdsaId);
    xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(
        doc, xmlSecTransformExclC14NId, ec ? xmlSecTransformEcdsaSha256Id : xmlSecTransformRsaSha256Id,
        BAD_CAST "fmSignature", BAD_CAST "ds");
    if (!sig || !xmlAddPrevSibling(obj, sig)) { xmlSecKeyDestroy(k); fm_set_error(err, errLen, "template"); goto done; }
    xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL,
                                                     BAD_CAST "#oadrSignedObject", NULL);
    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId);
    xmlNodePtr object = xmlSecTmplSignatureAddObject(sig, NULL, NULL, NULL);
    xmlNsPtr ds = sig->ns;
    xmlNodePtr props = xmlNewChild(object, ds, BAD_CAST "SignatureProperties", NULL);
    xmlNodePtr prop = xmlNewChild(props, ds, BAD_CAST "SignatureProperty", NULL);
    xmlSetProp(prop, BAD_CAST "Id", BAD_CAST "fmReplayProtect");
    xmlSetProp(prop, BAD_CAST "Target", BAD_CAST "#fmSignature");
    xmlNodePtr rp = xmlNewChild(prop, NULL, BAD_CAST "ReplayProtect", NULL);
    xmlNsPtr dsp = xmlNewNs(rp, BAD_CAST fm_dsp_ns, BAD_CAST "dsp");
    xmlSetNs(rp, dsp);
    xmlNewTextChild(rp, dsp, BAD_CAST "timestamp", BAD_CAST timestamp);
    xmlNewTextChild(rp, dsp, BAD_CAST "nonce", BAD_CAST nonce);
    fm_register_id(doc, prop, NULL);
    xmlNodePtr ref2 = xmlSecTmplSignatureAddReference(
        sig, xmlSecTransformSha256Id, NULL, BAD_CAST "#fmReplayProtect",
        BAD_CAST "http://www.w3.org/2000/09/xmldsig#SignatureProperties");
    xmlSecTmplReferenceAddTransform(ref2, xmlSecTransformExclC14NId);
    xmlNodePtr keyInfo = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
    xmlNodePtr x509 = xmlSecTmplKeyInfoAddX509Data(keyInfo);
    xmlSecTmplX509DataAddCertificate(x509);
    ctx = xmlSecDSigCtxCreate(NULL);
    if (!ctx) { xmlSecKeyDestroy(k); goto done; }
    ctx->signKey = k;
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    if (xmlSecDSigCtxSign(ctx, sig) < 0) { fm_set_error(err, errLen, "signing failed"); goto done; }
    xmlDocDumpMemoryEnc(doc, out, outLen, "UTF-8");
    rc = *out ? 0 : -1;
done:
    if (ctx) xmlSecDSigCtxDestroy(ctx);
    xmlFreeDoc(doc);
    return rc;
}

/// What a verification found: the signer's certificate (DER, from KeyInfo, which the caller compares with
/// the VTN's) and the ReplayProtect values (the caller checks the time window and the nonce).
typedef struct {
    unsigned char *cert;
    int certCap;
    int certLen;
    char *timestamp;
    int timestampCap;
    char *nonce;
    int nonceCap;
} fm_verified;

/// Frees what fm_xmldsig_sign returned.
static inline void fm_free(xmlChar *p) { xmlFree(p); }

/// The text of `node`, copied into `buf` (truncated to fit).
static inline void fm_text(xmlNodePtr node, char *buf, int size) {
    xmlChar *t = node ? xmlNodeGetContent(node) : NULL;
    fm_set_error(buf, size, t ? (const char *)t : "");
    if (t) xmlFree(t);
}

/// Verifies the signature of an oadrPayload with the certificate in its own KeyInfo, and that it covers the
/// payload's oadrSignedObject and a ReplayProtect. 0 on success (and `*found` filled); -2: no signature.
static inline int fm_xmldsig_verify(const char *xml, int len, fm_verified *found, char *err, int errLen) {
    int rc = -1;
    xmlSecDSigCtxPtr ctx = NULL;
    const char *objID = NULL, *propID = NULL;
    xmlDocPtr doc = fm_parse(xml, len);
    if (!doc) { fm_set_error(err, errLen, "not XML"); return -1; }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr obj = fm_child(root, "oadrSignedObject", fm_oadr_ns);
    xmlNodePtr sig = fm_child(root, "Signature", (const char *)xmlSecDSigNs);
    if (!obj) { fm_set_error(err, errLen, "no single oadrSignedObject"); goto done; }
    if (!sig) { fm_set_error(err, errLen, "the message is not signed"); rc = -2; goto done; }
    if (fm_register_id(doc, obj, &objID) < 0) { fm_set_error(err, errLen, "oadrSignedObject has no unique Id"); goto done; }
    xmlNodePtr object = fm_child(sig, "Object", (const char *)xmlSecDSigNs);
    xmlNodePtr props = fm_child(object, "SignatureProperties", (const char *)xmlSecDSigNs);
    xmlNodePtr prop = fm_child(props, "SignatureProperty", (const char *)xmlSecDSigNs);
    xmlNodePtr rp = fm_child(prop, "ReplayProtect", fm_dsp_ns);
    if (!rp || fm_register_id(doc, prop, &propID) < 0) { fm_set_error(err, errLen, "no ReplayProtect with an Id"); goto done; }
    fm_text(fm_child(rp, "timestamp", fm_dsp_ns), found->timestamp, found->timestampCap);
    fm_text(fm_child(rp, "nonce", fm_dsp_ns), found->nonce, found->nonceCap);
    xmlNodePtr keyInfo = fm_child(sig, "KeyInfo", (const char *)xmlSecDSigNs);
    xmlNodePtr certNode = fm_child(fm_child(keyInfo, "X509Data", (const char *)xmlSecDSigNs), "X509Certificate",
                                   (const char *)xmlSecDSigNs);
    if (!certNode) { fm_set_error(err, errLen, "no X509Certificate in KeyInfo"); goto done; }
    xmlChar *b64 = xmlNodeGetContent(certNode);
    // Fails rather than overflow past certCap.
    xmlSecSize written = 0;
    int ok = b64 && xmlSecBase64Decode_ex(b64, found->cert, (xmlSecSize)found->certCap, &written) == 0 && written > 0;
    if (b64) xmlFree(b64);
    if (!ok) { fm_set_error(err, errLen, "the X509Certificate is not base64 (or over 16 KiB)"); goto done; }
    found->certLen = (int)written;
    xmlSecKeyPtr k = xmlSecCryptoAppKeyLoadMemory(found->cert, written, xmlSecKeyDataFormatCertDer, NULL, NULL, NULL);
    if (!k) { fm_set_error(err, errLen, "cannot read the signer's certificate"); goto done; }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (!ctx) { xmlSecKeyDestroy(k); goto done; }
    ctx->signKey = k;
    // Never fetch anything: only `#id` references in this document.
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    if (xmlSecDSigCtxVerify(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
        fm_set_error(err, errLen, "the signature does not verify (tampered, or another key)"); goto done;
    }
    // The signature must cover this payload's oadrSignedObject and the ReplayProtect, not other elements.
    int coveredObj = 0, coveredProp = 0;
    xmlSecSize n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
    for (xmlSecSize i = 0; i < n; i++) {
        xmlSecDSigReferenceCtxPtr r = (xmlSecDSigReferenceCtxPtr)xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);
        if (!r || !r->uri || r->status != xmlSecDSigStatusSucceeded || r->uri[0] != '#') continue;
        if (strcmp((const char *)r->uri + 1, objID) == 0) coveredObj = 1;
        if (strcmp((const char *)r->uri + 1, propID) == 0) coveredProp = 1;
    }
    if (!coveredObj || !coveredProp) { fm_set_error(err, errLen, "the signature does not cover the oadrSignedObject and the ReplayProtect"); goto done; }
    rc = 0;
done:
    if (ctx) xmlSecDSigCtxDestroy(ctx);
    xmlFreeDoc(doc);
    return rc;
}
