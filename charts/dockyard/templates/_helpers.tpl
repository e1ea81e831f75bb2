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

{{- /* The reference of a Dockyard image: [imageRegistry/]repository(:tag|@digest). */ -}}
{{- define "dockyard.image" -}}
{{- $image := .image -}}
{{- $name := $image.repository -}}
{{- with .root.Values.imageRegistry }}{{ $name = printf "%s/%s" (trimSuffix "/" .) $name }}{{ end -}}
{{- if $image.digest }}{{ printf "%s@%s" $name $image.digest }}{{ else }}{{ printf "%s:%s" $name $image.tag }}{{ end -}}
{{- end }}

{{- /* A sandbox image (a plain reference) with imageRegistry prepended. */ -}}
{{- define "dockyard.sandboxImage" -}}
{{- if .root.Values.imageRegistry }}{{ printf "%s/%s" (trimSuffix "/" .root.Values.imageRegistry) .image }}{{ else }}{{ .image }}{{ end -}}
{{- end }}

{{- /* Pod-level placement and pull settings shared by the controller and the agent. */ -}}
{{- define "dockyard.podSettings" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- /* The name in the node agents' TLS certificate (the controller checks it). */ -}}
{{- define "dockyard.agent.serverName" -}}
dockyard-agent.{{ .Release.Namespace }}.svc
{{- end }}

{{- /* The Secret with the node agents' TLS certificate, key and CA. */ -}}
{{- define "dockyard.agent.tlsSecret" -}}
{{- .Values.agent.tls.existingSecret | default "dockyard-agent-tls" }}
{{- end }}
