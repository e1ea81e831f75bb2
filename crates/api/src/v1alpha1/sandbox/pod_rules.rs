//! What the API accepts, the Pod accepts: schema rules for the Sandbox fields
//! that reach its Pod (or its workspace claim), written after the checks the
//! Kubernetes API server (v1.36) applies to those objects, so that a bad value
//! is refused at `kubectl apply` with the field named, not later by the API
//! server when the controller creates the Pod.
//!
//! The Kubernetes types the Sandbox embeds (`EnvVar`, `Toleration`,
//! `ResourceRequirements`, `PersistentVolumeClaimSpec`, ...) come with schemas
//! that carry none of those checks, so these functions are schemars transforms
//! that add them to the generated schema: OpenAPI bounds and patterns, and CEL
//! rules (`x-kubernetes-validations`) that use Kubernetes' own validators
//! (`format.qualifiedName()`, `format.labelValue()`, `isQuantity()`, ...),
//! which are the very functions the API server validates Pods with.
//! `crates/testing/tests/pod_dry_run.rs` checks the result against the API
//! server, differentially.
//!
//! Bounds (`maxLength`, `maxItems`, `maxProperties`) also keep the estimated
//! cost of the CEL rules within the API server's budget.

use schemars::Schema;
use serde_json::{Map, Value, json};

use crate::render::names;

/// Free text that reaches the Pod through the controller's server-side apply,
/// whose body the API server reads as YAML, and JSON leaves these characters
/// unescaped: YAML refuses U+007F–U+009F, U+FFFE and U+FFFF, and takes U+0085,
/// U+2028 and U+2029 for line breaks, which it folds with the spaces around
/// them. Refused.
pub(super) const APPLY_SAFE_TEXT: &str = r"^[^\x7f-\x9f\x{2028}\x{2029}\x{fffe}\x{ffff}]*$";

/// Longest quantity string: enough for any sensible spelling, and a bound for
/// the CEL cost estimate of the rules reading quantities.
const MAX_QUANTITY_LENGTH: u64 = 64;

/// Longest label key: a 253-character prefix, '/', a 63-character name.
const MAX_QUALIFIED_NAME_LENGTH: u64 = 317;

/// The API server's limit on all of a Pod's annotations, keys and values, in bytes.
const POD_ANNOTATIONS_LIMIT: usize = 262_144;

/// What Dockyard adds to the Pod's annotations: `dockyard.dev/pod-spec-hash`
/// and `dockyard.dev/sandbox-spec-hash`, each with 16 hexadecimal digits.
pub const DOCKYARD_ANNOTATIONS_SIZE: usize =
    crate::labels::POD_SPEC_HASH.len() + 16 + crate::labels::SANDBOX_SPEC_HASH.len() + 16;

/// How much of a Pod's annotations a Sandbox may fill, keys and values
/// together, in bytes.
pub const MAX_POD_ANNOTATIONS_SIZE: usize = POD_ANNOTATIONS_LIMIT - DOCKYARD_ANNOTATIONS_SIZE;

// ---------------------------------------------------------------------------
// CEL building blocks: Kubernetes' own validators.

fn subdomain(x: &str) -> String {
    format!("!format.dns1123Subdomain().validate({x}).hasValue()")
}

fn qualified_name(x: &str) -> String {
    format!("!format.qualifiedName().validate({x}).hasValue()")
}

fn label_value(x: &str) -> String {
    format!("!format.labelValue().validate({x}).hasValue()")
}

/// A quantity field (`x-kubernetes-int-or-string`) as Kubernetes parses it.
fn is_quantity(q: &str) -> String {
    format!("isQuantity(string({q}))")
}

fn quantity(q: &str) -> String {
    format!("quantity(string({q}))")
}

/// A resource name a container may ask for: `cpu`, `memory`,
/// `ephemeral-storage`, `hugepages-<size>`, or a name with a domain (an
/// extended resource, or one in the kubernetes.io domain). What
/// `validateContainerResourceName` accepts.
fn container_resource_name(k: &str) -> String {
    format!(
        "{k} in ['cpu', 'memory', 'ephemeral-storage'] \
         || ({k}.startsWith('hugepages-') && {qualified} && isQuantity({k}.substring(10))) \
         || ({k}.contains('/') && {qualified} && ({k}.contains('kubernetes.io/') \
             || (!{k}.startsWith('requests.') && {quota_qualified})))",
        qualified = qualified_name(k),
        quota_qualified = qualified_name(&format!("'requests.' + {k}")),
    )
}

/// Extended resources: a domain outside kubernetes.io. They are counted in
/// whole units and, like hugepages, cannot be overcommitted.
fn extended_resource(k: &str) -> String {
    format!("({k}.contains('/') && !{k}.contains('kubernetes.io/'))")
}

fn not_overcommitted(k: &str) -> String {
    format!("({k}.startsWith('hugepages-') || {})", extended_resource(k))
}

// ---------------------------------------------------------------------------
// Editing a generated schema.

/// The schema object at `pointer` (a JSON pointer), which the types guarantee.
fn at<'a>(schema: &'a mut Schema, pointer: &str) -> &'a mut Map<String, Value> {
    schema
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("the generated schema has no object at {pointer}"))
}

fn rule(target: &mut Map<String, Value>, rule: &str, message: &str) {
    let rules = target.entry("x-kubernetes-validations").or_insert_with(|| json!([]));
    rules.as_array_mut().expect("x-kubernetes-validations is a list").push(json!({"rule": rule, "message": message}));
}

fn set(target: &mut Map<String, Value>, key: &str, value: Value) {
    target.insert(key.into(), value);
}

/// A name that must be a DNS subdomain (at most 253 characters): the name of
/// an object of the namespace or cluster such as a Secret or a RuntimeClass.
fn object_name(target: &mut Map<String, Value>, what: &str) {
    set(target, "maxLength", json!(253));
    rule(
        target,
        &subdomain("self"),
        &format!(
            "must be the name of {what}: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        ),
    );
}

/// A quantity (`x-kubernetes-int-or-string`) that must parse and be at least zero.
fn non_negative_quantity(target: &mut Map<String, Value>) {
    set(target, "maxLength", json!(MAX_QUANTITY_LENGTH));
    rule(
        target,
        &format!("{} && sign({}) >= 0", is_quantity("self"), quantity("self")),
        "must be a quantity of at least 0, such as 500m, 2, 1.5Gi or 1e3",
    );
}

/// A label-like map (`nodeSelector`, Pod labels, selector `matchLabels`):
/// keys are qualified names, values label values.
fn label_map(target: &mut Map<String, Value>, max_properties: u64) {
    set(target, "maxProperties", json!(max_properties));
    rule(
        target,
        &format!("self.all(k, {})", qualified_name("k")),
        "keys must be label keys: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, e.g. example.com/tier",
    );
    let values = target.get_mut("additionalProperties").and_then(Value::as_object_mut).expect("a map of strings");
    set(values, "maxLength", json!(63));
    rule(
        values,
        &label_value("self"),
        "must be a label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    );
}

// ---------------------------------------------------------------------------
// The transforms, one per kind of field.

/// `spec.env`: names as Kubernetes allows them (any printable ASCII but '='),
/// values the controller can apply, `valueFrom` sources the Pod accepts.
pub(super) fn env(schema: &mut Schema) {
    let item = at(schema, "/items");
    rule(
        item,
        "!has(self.valueFrom) || !has(self.value) || size(self.value) == 0",
        "give either value or valueFrom, not both",
    );

    let name = at(schema, "/items/properties/name");
    set(name, "maxLength", json!(4096));
    rule(
        name,
        "self.matches('^[ -<>-~]+$')",
        "env names must be printable ASCII characters other than '=', such as MY_VAR or my.setting",
    );
    set(at(schema, "/items/properties/value"), "pattern", json!(APPLY_SAFE_TEXT));

    let value_from = at(schema, "/items/properties/valueFrom");
    rule(
        value_from,
        "[has(self.fieldRef), has(self.resourceFieldRef), has(self.configMapKeyRef), has(self.secretKeyRef), has(self.fileKeyRef)].filter(x, x).size() == 1",
        "give exactly one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef",
    );
    rule(
        value_from,
        "!has(self.fileKeyRef)",
        "fileKeyRef is not supported: a sandbox's Pod has no volume of env files",
    );

    let api_version = at(schema, "/items/properties/valueFrom/properties/fieldRef/properties/apiVersion");
    rule(api_version, "self in ['', 'v1']", "apiVersion must be v1 (or omitted)");
    let field_path = at(schema, "/items/properties/valueFrom/properties/fieldRef/properties/fieldPath");
    set(field_path, "maxLength", json!(512));
    rule(
        field_path,
        &format!(
            "self in ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', \
             'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'] \
             || (self.startsWith(\"metadata.labels['\") && self.endsWith(\"']\") && size(self) >= 19 \
                 && {}) \
             || (self.startsWith(\"metadata.annotations['\") && self.endsWith(\"']\") && size(self) >= 24 \
                 && {})",
            qualified_name("self.substring(17, size(self) - 2)"),
            qualified_name("self.substring(22, size(self) - 2).lowerAscii()"),
        ),
        "fieldPath must be one of metadata.name, metadata.namespace, metadata.uid, spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP, status.podIPs, or metadata.labels['<key>'] or metadata.annotations['<key>'] with a label key",
    );

    let resource_ref = at(schema, "/items/properties/valueFrom/properties/resourceFieldRef");
    rule(
        resource_ref,
        &format!(
            "!has(self.divisor) || ({valid} && sign({q}) == 0) \
             || (self.resource.endsWith('.cpu') ? string(self.divisor) in ['1m', '1'] \
                 : string(self.divisor) in ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'])",
            valid = is_quantity("self.divisor"),
            q = quantity("self.divisor"),
        ),
        "divisor must be 1m or 1 for cpu, and 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi or 1Ei otherwise",
    );
    let resource = at(schema, "/items/properties/valueFrom/properties/resourceFieldRef/properties/resource");
    set(resource, "maxLength", json!(256));
    rule(
        resource,
        "self in ['limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage'] \
         || (self.startsWith('limits.hugepages-') && isQuantity(self.substring(17))) \
         || (self.startsWith('requests.hugepages-') && isQuantity(self.substring(19)))",
        "resource must be limits.cpu, limits.memory, limits.ephemeral-storage, requests.cpu, requests.memory, requests.ephemeral-storage, limits.hugepages-<page size> or requests.hugepages-<page size>",
    );
    // Not checked by the API server, but the kubelet must find the container.
    let container = at(schema, "/items/properties/valueFrom/properties/resourceFieldRef/properties/containerName");
    set(container, "maxLength", json!(63));
    rule(
        container,
        &format!(
            "self in ['', '{}', '{}', '{}', '{}']",
            names::WORKLOAD,
            names::DIND,
            names::INSTALL_ENTRYPOINT,
            names::PREPARE_USER
        ),
        &format!(
            "containerName must be empty (this container) or one of the sandbox Pod's containers: {}, {}, {}, {}",
            names::WORKLOAD,
            names::DIND,
            names::INSTALL_ENTRYPOINT,
            names::PREPARE_USER
        ),
    );
    let divisor = at(schema, "/items/properties/valueFrom/properties/resourceFieldRef/properties/divisor");
    set(divisor, "maxLength", json!(MAX_QUANTITY_LENGTH));
    rule(divisor, &is_quantity("self"), "divisor must be a quantity such as 1Mi");

    for (selector, what) in [("configMapKeyRef", "a ConfigMap"), ("secretKeyRef", "a Secret")] {
        object_name(at(schema, &format!("/items/properties/valueFrom/properties/{selector}/properties/name")), what);
        let key = at(schema, &format!("/items/properties/valueFrom/properties/{selector}/properties/key"));
        set(key, "maxLength", json!(253));
        rule(
            key,
            "self.matches('^[-._a-zA-Z0-9]+$') && self != '.' && !self.startsWith('..')",
            "key must be letters, digits, '-', '_' and '.', other than '.' and not starting with '..', e.g. config.yaml",
        );
    }
}

/// `resources` of the workload and of the DinD sidecar: names a container may
/// ask for, quantities that parse, requests within limits, and the rules for
/// extended resources and hugepages.
pub(super) fn resources(schema: &mut Schema) {
    for list in ["requests", "limits"] {
        let map = at(schema, &format!("/properties/{list}"));
        set(map, "maxProperties", json!(32));
        rule(
            map,
            &format!("self.all(k, {})", container_resource_name("k")),
            "resource names are cpu, memory, ephemeral-storage, hugepages-<page size> (e.g. hugepages-2Mi) or extended resources with a domain (e.g. example.com/gpu)",
        );
        rule(
            map,
            &format!(
                "self.all(k, !{} || !{} || {}.isInteger())",
                extended_resource("k"),
                is_quantity("self[k]"),
                quantity("self[k]")
            ),
            "extended resources (names with a domain) are counted in whole units, e.g. example.com/gpu: 1",
        );
        rule(
            map,
            &format!(
                "self.all(k, !k.startsWith('hugepages-') || !isQuantity(k.substring(10)) || !{valid} \
                 || (quantity(k.substring(10)).isInteger() && sign(quantity(k.substring(10))) > 0 && {q}.isInteger() \
                     && {q}.asInteger() % quantity(k.substring(10)).asInteger() == 0))",
                valid = is_quantity("self[k]"),
                q = quantity("self[k]"),
            ),
            "hugepages-<page size> must be a whole number of pages, e.g. hugepages-2Mi: 4Mi",
        );
        non_negative_quantity(at(schema, &format!("/properties/{list}/additionalProperties")));
    }
    let requirements = at(schema, "");
    rule(
        requirements,
        "!has(self.claims) || size(self.claims) == 0",
        "claims are not supported: a sandbox's Pod has no resource claims",
    );
    rule(
        requirements,
        &format!(
            "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) \
             || !{r_valid} || !{l_valid} || {r}.compareTo({l}) <= 0)",
            r_valid = is_quantity("self.requests[k]"),
            l_valid = is_quantity("self.limits[k]"),
            r = quantity("self.requests[k]"),
            l = quantity("self.limits[k]"),
        ),
        "requests may not exceed limits",
    );
    rule(
        requirements,
        &format!(
            "!has(self.requests) || self.requests.all(k, !{nonover} || (has(self.limits) && k in self.limits \
             && (!{r_valid} || !{l_valid} || {r}.compareTo({l}) == 0)))",
            nonover = not_overcommitted("k"),
            r_valid = is_quantity("self.requests[k]"),
            l_valid = is_quantity("self.limits[k]"),
            r = quantity("self.requests[k]"),
            l = quantity("self.limits[k]"),
        ),
        "extended resources and hugepages cannot be overcommitted: give a limit equal to the request (or only the limit)",
    );
    rule(
        requirements,
        "!((has(self.requests) && self.requests.exists(k, k.startsWith('hugepages-'))) \
           || (has(self.limits) && self.limits.exists(k, k.startsWith('hugepages-')))) \
         || (has(self.requests) && ('cpu' in self.requests || 'memory' in self.requests)) \
         || (has(self.limits) && ('cpu' in self.limits || 'memory' in self.limits))",
        "hugepages need cpu or memory as well",
    );
}

/// `spec.pod.tolerations`: what `ValidateTolerations` accepts.
pub(super) fn tolerations(schema: &mut Schema) {
    set(at(schema, ""), "maxItems", json!(64));
    let key = at(schema, "/items/properties/key");
    set(key, "maxLength", json!(MAX_QUALIFIED_NAME_LENGTH));
    rule(
        key,
        &format!("self == '' || {}", qualified_name("self")),
        "key must be a taint key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    );
    set(at(schema, "/items/properties/operator"), "enum", json!(["", "Equal", "Exists"]));
    set(at(schema, "/items/properties/effect"), "enum", json!(["", "NoSchedule", "PreferNoSchedule", "NoExecute"]));
    set(at(schema, "/items/properties/value"), "maxLength", json!(63));

    let item = at(schema, "/items");
    rule(
        item,
        "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        "a toleration without a key must have operator: Exists (it tolerates every taint)",
    );
    rule(
        item,
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        "tolerationSeconds needs effect: NoExecute",
    );
    rule(
        item,
        &format!(
            "has(self.operator) && self.operator == 'Exists' ? !has(self.value) || self.value == '' : !has(self.value) || {}",
            label_value("self.value")
        ),
        "value must be empty with operator Exists, and otherwise a label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    );
}

/// `spec.pod.nodeSelector`.
pub(super) fn node_selector(schema: &mut Schema) {
    label_map(at(schema, ""), 64);
}

/// `spec.pod.labels` (Dockyard's own prefixes are refused by `validation.rs`).
pub(super) fn pod_labels(schema: &mut Schema) {
    label_map(at(schema, ""), 64);
}

/// `spec.pod.annotations`: keys as the API server accepts them, none of the
/// annotations whose meaning Kubernetes checks against the Pod or that would
/// weaken Dockyard's own security settings, and room left for Dockyard's.
pub(super) fn pod_annotations(schema: &mut Schema) {
    let map = at(schema, "");
    set(map, "maxProperties", json!(256));
    rule(
        map,
        &format!("self.all(k, {})", qualified_name("k.lowerAscii()")),
        "keys must be annotation keys: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, e.g. example.com/owner",
    );
    rule(
        map,
        "self.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') \
         && !k.startsWith('container.seccomp.security.alpha.kubernetes.io/') \
         && k != 'seccomp.security.alpha.kubernetes.io/pod')",
        "AppArmor and seccomp annotations are not allowed: Dockyard sets every container's security profile",
    );
    rule(
        map,
        "self.all(k, k != 'scheduler.alpha.kubernetes.io/tolerations' && k != 'kubernetes.io/config.mirror')",
        "scheduler.alpha.kubernetes.io/tolerations and kubernetes.io/config.mirror are not allowed (use spec.pod.tolerations)",
    );
    rule(
        map,
        "!('controller.kubernetes.io/pod-deletion-cost' in self) \
         || (self['controller.kubernetes.io/pod-deletion-cost'].matches('^(0|[1-9][0-9]{0,9}|-[0-9]{1,10})$') \
             && int(self['controller.kubernetes.io/pod-deletion-cost']) >= -2147483648 \
             && int(self['controller.kubernetes.io/pod-deletion-cost']) <= 2147483647)",
        "controller.kubernetes.io/pod-deletion-cost must be a 32-bit integer, e.g. -5 or 100",
    );
    // Their total size is checked by `validation.rs`: CEL cannot add up a
    // map's strings within its cost budget.
    let values = at(schema, "/additionalProperties");
    set(values, "maxLength", json!(MAX_POD_ANNOTATIONS_SIZE));
    set(values, "pattern", json!(APPLY_SAFE_TEXT));
}

/// `spec.pod.imagePullSecrets`.
pub(super) fn image_pull_secrets(schema: &mut Schema) {
    set(at(schema, ""), "maxItems", json!(32));
    object_name(at(schema, "/items/properties/name"), "a Secret");
}

/// Names of objects: `serviceAccountName`, `runtimeClassName`, `claimName`,
/// storage class names.
pub(super) fn service_account_name(schema: &mut Schema) {
    object_name(at(schema, ""), "a ServiceAccount");
}

pub(super) fn runtime_class_name(schema: &mut Schema) {
    object_name(at(schema, ""), "a RuntimeClass");
}

pub(super) fn claim_name(schema: &mut Schema) {
    object_name(at(schema, ""), "a PersistentVolumeClaim");
}

pub(super) fn storage_class_name(schema: &mut Schema) {
    object_name(at(schema, ""), "a StorageClass");
}

/// A size of storage (`sizeLimit`, the DinD volume's size): a quantity above zero.
pub(super) fn storage_size(schema: &mut Schema) {
    let size = at(schema, "");
    set(size, "maxLength", json!(MAX_QUANTITY_LENGTH));
    rule(
        size,
        &format!("{} && sign({}) > 0", is_quantity("self"), quantity("self")),
        "must be a quantity above 0, such as 10Gi or 500M",
    );
}

/// `spec.workspace.volumeClaimTemplate.spec`: what the API server accepts of a
/// PersistentVolumeClaim's spec (`ValidatePersistentVolumeClaimSpec`).
pub(super) fn claim_spec(schema: &mut Schema) {
    let modes = at(schema, "/properties/accessModes");
    set(modes, "minItems", json!(1));
    set(modes, "maxItems", json!(4));
    rule(
        modes,
        "!self.exists(m, m == 'ReadWriteOncePod') || self.all(m, m == 'ReadWriteOncePod')",
        "ReadWriteOncePod may not be combined with other access modes",
    );
    set(
        at(schema, "/properties/accessModes/items"),
        "enum",
        json!(["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]),
    );
    // The workspace is mounted as a filesystem: a raw block device cannot be.
    set(at(schema, "/properties/volumeMode"), "enum", json!(["Filesystem"]));
    for class in ["storageClassName", "volumeAttributesClassName"] {
        let name = at(schema, &format!("/properties/{class}"));
        set(name, "maxLength", json!(253));
        rule(
            name,
            &format!("self == '' || {}", subdomain("self")),
            "must be empty or the name of a class: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        );
    }
    for list in ["requests", "limits"] {
        let map = at(schema, &format!("/properties/resources/properties/{list}"));
        set(map, "maxProperties", json!(1));
        rule(map, "self.all(k, k == 'storage')", "a claim has only storage: give its size as storage, e.g. 10Gi");
        non_negative_quantity(at(schema, &format!("/properties/resources/properties/{list}/additionalProperties")));
    }

    let selector = "/properties/selector";
    label_map(at(schema, &format!("{selector}/properties/matchLabels")), 64);
    set(at(schema, &format!("{selector}/properties/matchExpressions")), "maxItems", json!(32));
    let key = at(schema, &format!("{selector}/properties/matchExpressions/items/properties/key"));
    set(key, "maxLength", json!(MAX_QUALIFIED_NAME_LENGTH));
    rule(
        key,
        &qualified_name("self"),
        "key must be a label key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    );
    set(
        at(schema, &format!("{selector}/properties/matchExpressions/items/properties/operator")),
        "enum",
        json!(["In", "NotIn", "Exists", "DoesNotExist"]),
    );
    let values = at(schema, &format!("{selector}/properties/matchExpressions/items/properties/values"));
    set(values, "maxItems", json!(64));
    let value = at(schema, &format!("{selector}/properties/matchExpressions/items/properties/values/items"));
    set(value, "maxLength", json!(63));
    rule(
        value,
        &label_value("self"),
        "must be a label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    );
    rule(
        at(schema, &format!("{selector}/properties/matchExpressions/items")),
        "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
        "operators In and NotIn need values, Exists and DoesNotExist take none",
    );

    for source in ["dataSource", "dataSourceRef"] {
        object_name(at(schema, &format!("/properties/{source}/properties/name")), "the object to copy");
        let reference = at(schema, &format!("/properties/{source}"));
        rule(
            reference,
            &format!(
                "has(self.apiGroup) && size(self.apiGroup) > 0 ? {} : self.kind == 'PersistentVolumeClaim'",
                subdomain("self.apiGroup")
            ),
            "kind must be PersistentVolumeClaim without an apiGroup; an apiGroup must be a DNS subdomain such as snapshot.storage.k8s.io",
        );
        set(at(schema, &format!("/properties/{source}/properties/apiGroup")), "maxLength", json!(253));
        let kind = at(schema, &format!("/properties/{source}/properties/kind"));
        set(kind, "maxLength", json!(253));
        set(kind, "pattern", json!("^[A-Za-z][A-Za-z0-9]*$"));
    }
    let volume = at(schema, "/properties/volumeName");
    set(volume, "maxLength", json!(253));
    rule(
        volume,
        &format!("self == '' || {}", subdomain("self")),
        "volumeName must be the name of a PersistentVolume: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    );
    rule(
        at(schema, "/properties/dataSourceRef/properties/namespace"),
        "self == ''",
        "namespace is not supported: a workspace is restored from its own namespace",
    );
    rule(
        at(schema, ""),
        "!has(self.dataSource) || !has(self.dataSourceRef) \
         || (has(self.dataSource.apiGroup) == has(self.dataSourceRef.apiGroup) \
             && (!has(self.dataSource.apiGroup) || self.dataSource.apiGroup == self.dataSourceRef.apiGroup) \
             && self.dataSource.kind == self.dataSourceRef.kind && self.dataSource.name == self.dataSourceRef.name)",
        "dataSource and dataSourceRef must name the same object when both are given",
    );
    rule(
        at(schema, ""),
        "has(self.resources) && has(self.resources.requests) && 'storage' in self.resources.requests \
         && isQuantity(string(self.resources.requests['storage'])) && sign(quantity(string(self.resources.requests['storage']))) > 0",
        "resources.requests.storage is required: the claim's size, a quantity above 0 such as 10Gi",
    );
}

/// `spec.image`: the API server refuses leading and trailing whitespace.
pub(super) fn image(schema: &mut Schema) {
    let image = at(schema, "");
    set(image, "pattern", json!(APPLY_SAFE_TEXT));
    rule(image, "self == self.trim()", "image must not start or end with whitespace");
}

/// `spec.workingDir`.
pub(super) fn working_dir(schema: &mut Schema) {
    let dir = at(schema, "");
    set(dir, "pattern", json!(APPLY_SAFE_TEXT));
    rule(dir, "self.startsWith('/')", "workingDir must be an absolute path");
}

/// `spec.workspace.mountPath` (its overlaps with Dockyard's own mounts are
/// refused by `validation.rs`, which needs a clean path to see them).
pub(super) fn mount_path(schema: &mut Schema) {
    let path = at(schema, "");
    set(path, "pattern", json!(APPLY_SAFE_TEXT));
    rule(
        path,
        "!self.contains('//') && !self.matches('(^|/)[.][.]?(/|$)')",
        "mountPath must be a clean path: no '.' or '..' segments and no '//'",
    );
}
