{{/*
_helpers.tpl: names, labels, the role table and the pieces every
Postmesh pod shares (security context, volumes, environment).
*/}}

{{- define "postmesh.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "postmesh" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-postmesh" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "postmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "postmesh.labels" -}}
helm.sh/chart: {{ include "postmesh.chart" . }}
app.kubernetes.io/name: postmesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "role" "smtpd"). */}}
{{- define "postmesh.selectorLabels" -}}
app.kubernetes.io/name: postmesh
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/*
The roles. port: the nng listener (headless Service of that name);
redis: the role uses Redis (mounts the password); calls: the roles it
dials (services/*: cleanup_clnt, rewrite_clnt, bounce_clnt, the agents'
qmgr_service); agent: a delivery agent; prog: the program it runs when
that is not the role's name (submission is a second smtpd, like
Postfix's master.cf entry; it uses smtpd's internal certificate and
parameter names). smtpd uses Redis for the TLS ticket keys
(pm:tls:ticket), the failed-AUTH counters and a crypt table in Redis.
notls: no nng at all, so no internal TLS certificate (postscreen: SMTP
in, SMTP with a PROXY header out to smtpd, its cache in Redis).
mailbox: a final delivery agent (local, virtual) that mounts the mailbox
volume (mailbox.*; local resubmits alias addresses through cleanup).
*/}}
{{- define "postmesh.roleTable" -}}
smtpd:   {kind: Deployment, port: 0, redis: true, calls: [cleanup, rewrite], agent: false}
submission: {kind: Deployment, port: 0, redis: true, calls: [cleanup, rewrite], agent: false, prog: smtpd}
cleanup: {kind: Deployment, port: 10025, redis: true, calls: [rewrite], agent: false}
rewrite: {kind: Deployment, port: 10010, redis: false, calls: [], agent: false}
qmgr:    {kind: StatefulSet, port: 10030, redis: true, calls: [rewrite, bounce], agent: false}
bounce:  {kind: Deployment, port: 10040, redis: true, calls: [cleanup], agent: false}
smtp:    {kind: Deployment, port: 0, redis: true, calls: [qmgr], agent: true}
error:   {kind: Deployment, port: 0, redis: true, calls: [qmgr], agent: true}
discard: {kind: Deployment, port: 0, redis: true, calls: [qmgr], agent: true}
postscreen: {kind: Deployment, port: 0, redis: true, calls: [], agent: false, notls: true}
local:   {kind: Deployment, port: 0, redis: true, calls: [qmgr, cleanup, rewrite, bounce], agent: true, mailbox: true}
virtual: {kind: Deployment, port: 0, redis: true, calls: [qmgr], agent: true, mailbox: true}
{{- end -}}

{{/* An nng service URL: (dict "ctx" $ "role" "cleanup" "port" 10025). */}}
{{- define "postmesh.serviceURL" -}}
{{- $scheme := ternary "tls+tcp" "tcp" .ctx.Values.internalTLS.enabled -}}
{{- printf "%s://%s-%s.%s.svc.%s:%d" $scheme (include "postmesh.fullname" .ctx) .role .ctx.Release.Namespace .ctx.Values.clusterDomain (int .port) -}}
{{- end -}}

{{/* The Redis address for redis_server. */}}
{{- define "postmesh.redisServer" -}}
{{- if eq .Values.redis.mode "bundled" -}}
{{- printf "%s-redis.%s.svc.%s:6379" (include "postmesh.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- .Values.redis.external.server -}}
{{- end -}}
{{- end -}}

{{- define "postmesh.redisSecretName" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis" (include "postmesh.fullname" .)) -}}
{{- end -}}

{{- define "postmesh.tlsSecretName" -}}
{{- if eq .ctx.Values.internalTLS.mode "certManager" -}}
{{- printf "%s-%s-tls" (include "postmesh.fullname" .ctx) .role -}}
{{- else if eq .ctx.Values.internalTLS.mode "existingSecret" -}}
{{- .ctx.Values.internalTLS.existingSecret -}}
{{- else -}}
{{- printf "%s-internal-tls" (include "postmesh.fullname" .ctx) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context of every Postmesh pod (uid 10001). */}}
{{- define "postmesh.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
{{- if .mailbox }}
# the mailbox volume: its root is given to group 10001 once (when it
# differs), not every mailbox at every mount
fsGroupChangePolicy: OnRootMismatch
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "postmesh.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The pod template of a role: (dict "ctx" $ "role" NAME "r" ROLE-TABLE-ENTRY
"v" ROLE-VALUES). Deployments and the qmgr StatefulSet share it.
*/}}
{{- define "postmesh.podTemplate" -}}
{{- $ctx := .ctx -}}
{{- $role := .role -}}
{{- $r := .r -}}
{{- $v := .v -}}
{{- $V := $ctx.Values -}}
{{- $prog := $r.prog | default $role -}}
{{- $smtpTLS := and (eq $prog "smtpd") (ne $V.smtpTLS.mode "none") -}}
{{- $itls := and $V.internalTLS.enabled (not $r.notls) -}}
{{- $sasl := and (eq $role "submission") (eq $V.submission.sasl.type "crypt") $V.submission.sasl.existingSecret -}}
{{- $env := dict -}}
{{- if eq $role "submission" -}}
{{- $env = include "postmesh.submissionEnv" $ctx | fromYaml -}}
{{- else if eq $role "smtpd" -}}
{{- $env = include "postmesh.smtpdEnv" $ctx | fromYaml | default dict -}}
{{- else if eq $role "postscreen" -}}
{{- $env = include "postmesh.postscreenEnv" $ctx | fromYaml -}}
{{- end -}}
{{- $env = merge (deepCopy ($v.config | default dict)) $env -}}
metadata:
  labels:
    {{- include "postmesh.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ $role }}
    postmesh.io/mesh: "true"
  annotations:
    checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
    {{- with $V.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $V.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "postmesh.podSecurityContext" (dict "mailbox" $r.mailbox) | nindent 4 }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $r.mailbox }}
  initContainers:
    {{- include "postmesh.mailboxInit" (dict "ctx" $ctx "role" $role "v" $v) | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $role }}
      image: "{{ $V.image.repository }}:{{ $V.image.tag }}"
      imagePullPolicy: {{ $V.image.pullPolicy }}
      args: [{{ $prog | quote }}]
      env:
        - name: POSTMESH_CONFIG_DIR
          value: /etc/postmesh/config
        - name: POSTMESH_service_instance_name
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POSTMESH_{{ $prog }}_metrics_listen
          value: "http://0.0.0.0:9100"
        {{- if eq $role "smtpd" }}
        - name: POSTMESH_smtpd_listen
          value: "0.0.0.0:2525"
        {{- else if eq $role "submission" }}
        - name: POSTMESH_smtpd_listen
          value: "0.0.0.0:2587"
        {{- else if eq $role "postscreen" }}
        - name: POSTMESH_postscreen_listen
          value: "0.0.0.0:2525"
        {{- else if $r.port }}
        - name: POSTMESH_{{ $role }}_listen
          value: "{{ ternary "tls+tcp" "tcp" $V.internalTLS.enabled }}://0.0.0.0:{{ $r.port }}"
        {{- end }}
        {{- if $itls }}
        {{- if eq $V.internalTLS.mode "certManager" }}
        - name: POSTMESH_internal_tls_ca_file
          value: /etc/postmesh/tls/ca.crt
        - name: POSTMESH_internal_tls_cert_file
          value: /etc/postmesh/tls/tls.crt
        - name: POSTMESH_internal_tls_key_file
          value: /etc/postmesh/tls/tls.key
        {{- else }}
        - name: POSTMESH_internal_tls_ca_file
          value: /etc/postmesh/tls/ca.pem
        - name: POSTMESH_internal_tls_cert_file
          value: /etc/postmesh/tls/{{ $prog }}.pem
        {{- end }}
        {{- end }}
        {{- /* the chart's settings of the role (submission, smtpd, postscreen), then roles.<r>.config over them */}}
        {{- range $k, $val := $env }}
        - name: POSTMESH_{{ $k }}
          value: {{ $val | toString | quote }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: 9100
          protocol: TCP
        {{- if or (eq $role "smtpd") (eq $role "postscreen") }}
        - name: smtp
          containerPort: 2525
          protocol: TCP
        {{- else if eq $role "submission" }}
        - name: submission
          containerPort: 2587
          protocol: TCP
        {{- else if $r.port }}
        - name: nng
          containerPort: {{ $r.port }}
          protocol: TCP
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        periodSeconds: 2
        timeoutSeconds: 1
        failureThreshold: 1
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- include "postmesh.containerSecurityContext" (dict) | nindent 8 }}
      volumeMounts:
        # a directory, not a subPath file: podman play kube (tests)
        # cannot mount a subPath, and a subPath never sees updates
        - name: config
          mountPath: /etc/postmesh/config
          readOnly: true
        {{- if $itls }}
        - name: tls
          mountPath: /etc/postmesh/tls
          readOnly: true
        {{- end }}
        {{- if and $r.redis (include "postmesh.redisAuth" $ctx) }}
        - name: redis-secret
          mountPath: /etc/postmesh/secrets
          readOnly: true
        {{- end }}
        {{- if $smtpTLS }}
        - name: smtp-tls
          mountPath: /etc/postmesh/smtp-tls
          readOnly: true
        {{- end }}
        {{- if $sasl }}
        - name: sasl
          mountPath: /etc/postmesh/sasl
          readOnly: true
        {{- end }}
        {{- if $r.mailbox }}
        - name: mailbox
          mountPath: {{ $V.mailbox.mountPath }}
        {{- end }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "postmesh.fullname" $ctx }}-config
    {{- if $itls }}
    - name: tls
      secret:
        secretName: {{ include "postmesh.tlsSecretName" (dict "ctx" $ctx "role" $prog) }}
        optional: false
        defaultMode: 0440
        {{- if ne $V.internalTLS.mode "certManager" }}
        items:
          - key: ca.pem
            path: ca.pem
          - key: {{ $prog }}.pem
            path: {{ $prog }}.pem
        {{- end }}
    {{- end }}
    {{- if and $r.redis (include "postmesh.redisAuth" $ctx) }}
    - name: redis-secret
      secret:
        secretName: {{ include "postmesh.redisSecretName" $ctx }}
        optional: false
        defaultMode: 0440
        items:
          - key: {{ $V.redis.auth.existingSecretKey }}
            path: redis-password
          {{- if and (eq $V.redis.mode "sentinel") $V.redis.sentinel.passwordKey }}
          - key: {{ $V.redis.sentinel.passwordKey }}
            path: sentinel-password
          {{- end }}
    {{- end }}
    {{- if $smtpTLS }}
    - name: smtp-tls
      secret:
        secretName: {{ include "postmesh.smtpTLSSecretName" $ctx }}
        optional: false
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- if $sasl }}
    - name: sasl
      secret:
        secretName: {{ $V.submission.sasl.existingSecret }}
        optional: false
        defaultMode: 0440
        items:
          - key: {{ $V.submission.sasl.existingSecretKey }}
            path: passwd
    {{- end }}
    {{- if $r.mailbox }}
    - name: mailbox
      persistentVolumeClaim:
        claimName: {{ include "postmesh.mailboxClaim" $ctx }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ $V.tmpSizeLimit }}
{{- end -}}

{{/* The mailbox volume's claim: mailbox.persistence.existingClaim or the chart's. */}}
{{- define "postmesh.mailboxClaim" -}}
{{- .Values.mailbox.persistence.existingClaim | default (printf "%s-mailbox" (include "postmesh.fullname" .)) -}}
{{- end -}}

{{/* Non-empty when local or virtual runs (they mount the mailbox volume). */}}
{{- define "postmesh.mailboxUsed" -}}
{{- if or .Values.roles.local.enabled .Values.roles.virtual.enabled -}}yes{{- end -}}
{{- end -}}

{{/*
The init container of local and virtual: makes the directories the
agent does not make itself, as uid 10001 on the mailbox volume: the
home of every user of the local users table (mailbox.users, third
field of uid:gid:home; local then makes Maildir/{tmp,new,cur}) and
virtual_mailbox_base. (dict "ctx" $ "role" NAME "v" ROLE-VALUES)
*/}}
{{- define "postmesh.mailboxInit" -}}
{{- $V := .ctx.Values -}}
- name: mailbox-dirs
  image: "{{ $V.image.repository }}:{{ $V.image.tag }}"
  imagePullPolicy: {{ $V.image.pullPolicy }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      set -e
      {{- if eq .role "local" }}
      if [ -f /etc/postmesh/config/users ]; then
        awk '!/^[[:space:]]*(#|$)/ { n = split($2, f, ":"); if (n >= 3 && f[3] != "") print f[3] }' \
          /etc/postmesh/config/users | while read -r home; do
          case "$home" in {{ $V.mailbox.mountPath }}/*) mkdir -p -m 0700 "$home" ;; esac
        done
      fi
      {{- else }}
      mkdir -p -m 0700 {{ include "postmesh.virtualBase" .ctx | quote }}
      {{- end }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  securityContext:
    {{- include "postmesh.containerSecurityContext" (dict) | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/postmesh/config
      readOnly: true
    - name: mailbox
      mountPath: {{ $V.mailbox.mountPath }}
{{- end -}}

{{/* virtual_mailbox_base: config wins over mailbox.mountPath/vhosts. */}}
{{- define "postmesh.virtualBase" -}}
{{- .Values.config.virtual_mailbox_base | default (printf "%s/vhosts" .Values.mailbox.mountPath) -}}
{{- end -}}

{{/* Non-empty when the services authenticate to Redis. */}}
{{- define "postmesh.redisAuth" -}}
{{- if or (eq .Values.redis.mode "bundled") .Values.redis.auth.enabled -}}yes{{- end -}}
{{- end -}}


{{/* The SMTP server certificate's Secret (smtpTLS; kubernetes.io/tls: tls.crt, tls.key). */}}
{{- define "postmesh.smtpTLSSecretName" -}}
{{- if eq .Values.smtpTLS.mode "certManager" -}}
{{- printf "%s-smtp-tls" (include "postmesh.fullname" .) -}}
{{- else -}}
{{- .Values.smtpTLS.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
POSTMESH_<name> settings of the submission role: the -o overrides of
Postfix's master.cf "submission" entry (docs/tls.md). roles.submission.config
wins over these.
*/}}
{{- define "postmesh.submissionEnv" -}}
{{- $s := .Values.submission -}}
smtpd_tls_security_level: encrypt
smtpd_sasl_auth_enable: "yes"
smtpd_tls_auth_only: "yes"
smtpd_relay_restrictions: permit_sasl_authenticated, reject
smtpd_recipient_restrictions: permit_sasl_authenticated, reject
smtpd_client_auth_rate_limit: {{ $s.authRateLimit | quote }}
smtpd_sasl_type: {{ $s.sasl.type }}
{{- if eq $s.sasl.type "dovecot" }}
smtpd_sasl_path: {{ $s.sasl.path | quote }}
{{- else if $s.sasl.redisKey }}
smtpd_sasl_password_maps: {{ printf "redis:%s" $s.sasl.redisKey | quote }}
{{- else }}
smtpd_sasl_password_maps: /etc/postmesh/sasl/passwd
{{- end }}
{{- end -}}

{{/*
POSTMESH_<name> settings of smtpd: behind postscreen or a load balancer
that sends the PROXY protocol (smtpService.proxyProtocol), the client
address comes from the PROXY header (docs/frontdoor.md).
roles.smtpd.config wins over these.
*/}}
{{- define "postmesh.smtpdEnv" -}}
{{- if or .Values.roles.postscreen.enabled .Values.smtpService.proxyProtocol }}
smtpd_upstream_proxy_protocol: haproxy
{{- end }}
{{- end -}}

{{/* The ClusterIP Service of smtpd behind postscreen. */}}
{{- define "postmesh.smtpdBackend" -}}
{{- printf "%s-smtpd-backend" (include "postmesh.fullname" .) -}}
{{- end -}}

{{/*
POSTMESH_<name> settings of postscreen: where the clients that pass go
(the smtpd Service; postscreen resolves the name at start, a ClusterIP
stays). roles.postscreen.config wins over these.
*/}}
{{- define "postmesh.postscreenEnv" -}}
postscreen_smtpd_service: {{ printf "%s.%s.svc.%s:2525" (include "postmesh.smtpdBackend" .) .Release.Namespace .Values.clusterDomain | quote }}
{{- end -}}

{{/* Refuse values the chart cannot honour (included by workloads.yaml). */}}
{{- define "postmesh.validate" -}}
{{- if .Values.roles.submission.enabled -}}
{{- if eq .Values.smtpTLS.mode "none" -}}
{{- fail "roles.submission needs a certificate (passwords would go in clear): set smtpTLS.mode to existingSecret or certManager" -}}
{{- end -}}
{{- $sasl := .Values.submission.sasl -}}
{{- if and (eq $sasl.type "dovecot") (not (regexMatch "^inet:[^:]+:[0-9]+$" $sasl.path)) -}}
{{- fail "submission.sasl.path: want inet:host:port (Dovecot's auth service; a UNIX socket is not reachable from the pod)" -}}
{{- end -}}
{{- if and (eq $sasl.type "crypt") (not $sasl.existingSecret) (not $sasl.redisKey) -}}
{{- fail "submission.sasl.type crypt needs submission.sasl.existingSecret (a user:hash file) or submission.sasl.redisKey" -}}
{{- end -}}
{{- end -}}
{{- if .Values.roles.postscreen.enabled -}}
{{- if .Values.smtpService.proxyProtocol -}}
{{- fail "smtpService.proxyProtocol with roles.postscreen: the load balancer talks to postscreen, which reads no PROXY header; turn one off" -}}
{{- end -}}
{{- if not .Values.roles.smtpd.enabled -}}
{{- fail "roles.postscreen needs roles.smtpd (it hands clients to smtpd)" -}}
{{- end -}}
{{- end -}}
{{- if .Values.roles.local.enabled -}}
{{- if not (.Values.config.mydestination | default .Values.roles.local.config.mydestination) -}}
{{- fail "roles.local: config.mydestination is empty, so no domain is delivered locally; name the local domains there (e.g. \"$myhostname, localhost, example.com\")" -}}
{{- end -}}
{{- end -}}
{{- if .Values.roles.virtual.enabled -}}
{{- if not .Values.config.virtual_mailbox_domains -}}
{{- fail "roles.virtual: config.virtual_mailbox_domains is empty, so no mail reaches virtual; name its domains there" -}}
{{- end -}}
{{- if not (or .Values.mailbox.virtualMailboxes .Values.config.virtual_mailbox_maps) -}}
{{- fail "roles.virtual: no mailboxes: set mailbox.virtualMailboxes (or config.virtual_mailbox_maps)" -}}
{{- end -}}
{{- end -}}
{{- if and (include "postmesh.mailboxUsed" .) (not .Values.mailbox.persistence.existingClaim) -}}
{{- $n := 0 -}}
{{- range $role := list "local" "virtual" -}}
{{- $v := index $.Values.roles $role -}}
{{- if $v.enabled -}}
{{- $n = add $n (ternary 2 (int $v.replicas) $v.autoscaling.enabled) -}}
{{- end -}}
{{- end -}}
{{- if and (gt (int $n) 1) (not (has "ReadWriteMany" .Values.mailbox.persistence.accessModes)) -}}
{{- fail "mailbox.persistence.accessModes: more than one local/virtual pod mounts the mailbox claim: it needs ReadWriteMany (or one replica of one role)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.smtpTLS.mode "existingSecret") (not .Values.smtpTLS.existingSecret) -}}
{{- fail "smtpTLS.mode existingSecret needs smtpTLS.existingSecret (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- if and (eq .Values.smtpTLS.mode "certManager") (not .Values.smtpTLS.certManager.dnsNames) -}}
{{- fail "smtpTLS.mode certManager needs smtpTLS.certManager.dnsNames" -}}
{{- end -}}
{{- end -}}
