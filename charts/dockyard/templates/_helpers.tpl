{{- define "dockyard.labels" -}}
app.kubernetes.io/part-of: dockyard
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "dockyard.controller.selector" -}}
app.kubernetes.io/name: dockyard-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dockyard.agent.selector" -}}
app.kubernetes.io/name: dockyard-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
