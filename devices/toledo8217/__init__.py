"""Toledo 8217 / ECR "W" protocol scales (9600 7E1, ``W`` → ``STX WW.WWW CR``), as used by Odoo's IoT box."""
