"""CAS indicators in continuous-output mode (``ST,GS,...kg`` frames streamed without a request)."""
