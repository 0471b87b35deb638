{{/* The chart's name, or nameOverride. */}}
{{- define "cpp-metrics-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the Deployment, Service, Secret and ServiceAccount: fullnameOverride, else the release
name when it contains the chart's name, else <release>-<chart>.
*/}}
{{- define "cpp-metrics-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cpp-metrics-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cpp-metrics-server.labels" -}}
helm.sh/chart: {{ include "cpp-metrics-server.chart" . }}
{{ include "cpp-metrics-server.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "cpp-metrics-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpp-metrics-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cpp-metrics-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cpp-metrics-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cpp-metrics-server.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key, for every tls.type but metrics-server. */}}
{{- define "cpp-metrics-server.tlsSecretName" -}}
{{- if eq .Values.tls.type "existingSecret" }}
{{- required "tls.existingSecret.name is required with tls.type=existingSecret" .Values.tls.existingSecret.name }}
{{- else }}
{{- include "cpp-metrics-server.fullname" . }}
{{- end }}
{{- end }}

{{/* The DNS names the aggregator may ask for: <service>.<namespace>[.svc[.<domain>]]. */}}
{{- define "cpp-metrics-server.dnsNames" -}}
{{- $svc := include "cpp-metrics-server.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.tls.clusterDomain) | toJson }}
{{- end }}

{{/* Fails on a tls.type the chart does not know. */}}
{{- define "cpp-metrics-server.validate" -}}
{{- if not (has .Values.tls.type (list "metrics-server" "helm" "cert-manager" "existingSecret")) }}
{{- fail (printf "tls.type %q: use metrics-server, helm, cert-manager or existingSecret" .Values.tls.type) }}
{{- end }}
{{- end }}
