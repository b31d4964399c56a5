def main(req):
    return "never imported"
