print("kiosk-agent")
