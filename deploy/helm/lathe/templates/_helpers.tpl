{{/* Names, labels, endpoints and environment shared by every template of the chart. */}}

{{- define "lathe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "lathe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lathe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; pass (dict "root" $ "component" "datasets"). */}}
{{- define "lathe.labels" -}}
helm.sh/chart: {{ include "lathe.chart" .root }}
{{ include "lathe.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: lathe
{{- end -}}

{{- define "lathe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lathe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lathe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lathe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The protobuf service each deployable serves: health (readiness) and reflection report it. */}}
{{- define "lathe.grpcServiceName" -}}
{{- $names := dict "datasets" "lathe.datasets.v1.DatasetService" "preferences" "lathe.preferences.v1.PreferenceService" "quantization" "lathe.quantization.v1.QuantizationService" "training" "lathe.training.v1.TrainingService" "registry" "lathe.registry.v1.RegistryService" -}}
{{- index $names . -}}
{{- end -}}

{{/* host:port of a service of this release, for the services and workers that call it. */}}
{{- define "lathe.serviceAddress" -}}
{{- $svc := index .root.Values.services .name -}}
{{- printf "%s-%s:%d" (include "lathe.fullname" .root) .name (int $svc.port) -}}
{{- end -}}

{{/* Name a subchart gives its objects: (dict "root" $ "chart" "nats"). */}}
{{- define "lathe.subchartFullname" -}}
{{- $values := index .root.Values .chart -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .chart .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The chart's own Secret (database URL, JWT secret) and whether it is needed. */}}
{{- define "lathe.secretName" -}}
{{- printf "%s-secrets" (include "lathe.fullname" .) -}}
{{- end -}}

{{- define "lathe.databaseSecretName" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else -}}
{{- include "lathe.secretName" . -}}
{{- end -}}
{{- end -}}

{{- define "lathe.jwtSecretName" -}}
{{- default (include "lathe.secretName" .) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Stream of the trainer work queue: @lathe/bus names queue training-<device> LATHE_WORK_TRAINING_<DEVICE>. */}}
{{- define "lathe.trainerStream" -}}
LATHE_WORK_TRAINING_{{ upper .Values.trainer.device }}
{{- end -}}

{{/* host:port of the NATS HTTP monitoring endpoint, for KEDA. */}}
{{- define "lathe.natsMonitoringEndpoint" -}}
{{- if .Values.nats.enabled -}}
{{- printf "%s-headless.%s.svc:8222" (include "lathe.subchartFullname" (dict "root" . "chart" "nats")) .Release.Namespace -}}
{{- else -}}
{{- .Values.externalNats.monitoringEndpoint -}}
{{- end -}}
{{- end -}}

{{/* NATS_URL: the subchart's service, an existing Secret, or externalNats.url kept in the chart's Secret. */}}
{{- define "lathe.natsUrlEnv" -}}
{{- if .Values.nats.enabled -}}
- name: NATS_URL
  value: {{ printf "nats://%s:4222" (include "lathe.subchartFullname" (dict "root" . "chart" "nats")) | quote }}
{{- else if .Values.externalNats.existingSecret -}}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.existingSecret }}
      key: {{ .Values.externalNats.urlKey }}
{{- else -}}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "lathe.secretName" . }}
      key: {{ .Values.externalNats.urlKey }}
{{- end }}
{{- end -}}

{{/* One env entry taking the database URL from its Secret: (dict "root" $ "env" "NAME"). */}}
{{- define "lathe.databaseUrlEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lathe.databaseSecretName" .root }}
      key: {{ .root.Values.database.urlKey }}
{{- end -}}

{{/* One optional env entry from serviceTokens.existingSecret: (dict "root" $ "env" "NAME" "key" "k"). */}}
{{- define "lathe.tokenEnv" -}}
{{- if .root.Values.serviceTokens.existingSecret -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.serviceTokens.existingSecret }}
      key: {{ .key }}
      optional: true
{{- end }}
{{- end -}}

{{/* Artifact store settings: "nats" or the shared volume's mount path. */}}
{{- define "lathe.artifactsLocation" -}}
{{- if eq .Values.artifacts.store "volume" -}}
/var/lib/lathe/artifacts
{{- else -}}
nats
{{- end -}}
{{- end -}}

{{/* Environment of every gRPC service container: (dict "root" $ "name" "datasets" "svc" $svc). */}}
{{- define "lathe.serviceEnv" -}}
- name: {{ printf "LATHE_%s_PORT" (upper .name) }}
  value: {{ .svc.port | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "lathe-%s" .name | quote }}
{{- if and (eq .root.Values.auth.mode "jwt") (or .root.Values.auth.existingSecret .root.Values.auth.jwtSecret) }}
- name: LATHE_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "lathe.jwtSecretName" .root }}
      key: {{ .root.Values.auth.jwtSecretKey }}
{{- end }}
{{- end -}}

{{/*
Probes of a gRPC service container: (dict "root" $ "name" "datasets" "svc" $svc), Kubernetes'
native gRPC probes (grpc.health.v1, plaintext). Startup allows 5 minutes (a first start migrates
the schema); readiness asks about the service by name (NOT_SERVING while it drains), liveness
about the server.
*/}}
{{- define "lathe.grpcProbes" -}}
{{- $service := include "lathe.grpcServiceName" .name -}}
startupProbe:
  grpc:
    port: {{ .svc.port }}
    service: {{ $service | quote }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 60
readinessProbe:
  grpc:
    port: {{ .svc.port }}
    service: {{ $service | quote }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
livenessProbe:
  grpc:
    port: {{ .svc.port }}
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* Stops rendering with a message when values that the schema cannot check together are missing. */}}
{{- define "lathe.validate" -}}
{{- if eq .Values.auth.mode "jwt" -}}
{{- if not .Values.auth.issuer -}}
{{- fail "auth.issuer is required when auth.mode is jwt (LATHE_JWT_ISSUER)" -}}
{{- end -}}
{{- $sources := 0 -}}
{{- if or .Values.auth.jwtSecret .Values.auth.existingSecret }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.auth.jwksUrl }}{{ $sources = add1 $sources }}{{ end -}}
{{- if ne $sources 1 -}}
{{- fail "auth.mode jwt needs exactly one key source: auth.jwtSecret or auth.existingSecret (HS256), or auth.jwksUrl" -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.database.url) (not .Values.database.existingSecret) -}}
{{- fail "a database is required: postgresql.enabled, database.url or database.existingSecret" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.auth.password) -}}
{{- fail "postgresql.auth.password is required when postgresql.enabled" -}}
{{- end -}}
{{- if and (not .Values.nats.enabled) (not .Values.externalNats.url) (not .Values.externalNats.existingSecret) -}}
{{- fail "NATS is required: nats.enabled, externalNats.url or externalNats.existingSecret" -}}
{{- end -}}
{{- if and .Values.trainer.enabled .Values.trainer.autoscaling.enabled (not (include "lathe.natsMonitoringEndpoint" .)) -}}
{{- fail "trainer.autoscaling needs the NATS monitoring endpoint: externalNats.monitoringEndpoint (host:8222)" -}}
{{- end -}}
{{- end -}}
